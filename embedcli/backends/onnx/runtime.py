"""The fast path: a model exported to ONNX once, then run with onnxruntime, tokenizers and numpy only.

The first use of a model exports it (`embedcli.backends.onnx.export`, the only code here that imports torch) into the
cache (`embedcli.backends.onnx.cache`); every later run loads the cached graph and the model's own `tokenizer.json`
(`embedcli.backends.onnx.encoder`), which reproduces the rest of the sentence-transformers pipeline in numpy:
truncation at the model's max_seq_length, pooling (cls / mean / max / mean_sqrt_len_tokens / lasttoken), Normalize,
prompts.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from embedcli.backends.base import Backend, BackendOptions, Device, check_max_length, token_limit
from embedcli.backends.models import ModelRef
from embedcli.backends.onnx import Quantize, export_options
from embedcli.backends.onnx.cache import CacheEntry, entry_key, find_entry, model_content_hash
from embedcli.backends.onnx.encoder import load_encoder, local_model_folder
from embedcli.errors import ModelError, UsageError


def cached_export(model: ModelRef, quantize: Quantize) -> CacheEntry | None:
    """The cache entry for `model` exported with `quantize`, if one is stored (its checksums not yet checked)."""
    folder = local_model_folder(model)
    if folder is None:
        return None
    return find_entry(entry_key(model_content_hash(folder), export_options(quantize)), verify=False)


def folder_token_limit(model: ModelRef) -> int | None:
    """What the model can read, from its files (position table, tokenizer limit); None when they do not say."""
    folder = local_model_folder(model)
    if folder is None:
        return None
    values: list[object] = []
    for sub in ("", "0_Transformer"):
        for name, key in (("config.json", "max_position_embeddings"), ("tokenizer_config.json", "model_max_length")):
            try:
                values.append(json.loads((folder / sub / name).read_text(encoding="utf-8")).get(key))
            except (OSError, ValueError, AttributeError):
                continue
    return token_limit(*values)


class OnnxBackend(Backend):
    name = "onnx"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        if options.device not in (Device.auto, Device.cpu):
            raise UsageError("the onnx backend runs on the CPU", hint="use --backend sentence-transformers for GPUs")
        self.quantize = Quantize(options.extra.get("quantize") or Quantize.none)
        if options.max_length is not None:
            check_max_length(options.max_length, folder_token_limit(model), model.name)
        threads = options.extra.get("threads")
        entry = cached_export(model, self.quantize)
        encoder = load_encoder(entry, threads, options.max_length) if entry is not None else None
        self.exported = encoder is None
        if entry is None or encoder is None:  # not exported yet, or damaged: (re)build it, then it must load
            from embedcli.backends.onnx.export import export_cached

            if options.announce is not None:
                options.announce(
                    f"exporting {model.name} to ONNX ({self.quantize.value}): first use only, "
                    "takes up to a minute, cached for later runs"
                )
            entry = export_cached(model, self.quantize)
            encoder = load_encoder(entry, threads, options.max_length)
            if encoder is None:
                raise ModelError(f"the cached export {entry.path} is damaged", hint="embedcli models --clear")
        self.entry = entry
        self._encoder = encoder

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    @property
    def max_length(self) -> int | None:
        return self._encoder.max_length

    @property
    def tokenizer(self) -> Any | None:
        return self._encoder.tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors, truncated = self._encoder.encode(texts, self.options.batch_size, self.options.prompt)
        self.truncated += truncated
        return vectors

    def notes(self) -> list[str]:
        return [f"exported to ONNX on first use, cached in {self.entry.path}"] if self.exported else []

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model_normalizes": bool(self._encoder.pipeline.get("normalize")),
            "pooling": "+".join(self._encoder.pooling),
            "quantize": self.quantize.value,
        }
