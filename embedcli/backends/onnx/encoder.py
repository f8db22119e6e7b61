"""Runs an exported model with onnxruntime, tokenizers and numpy: tokenization, truncation, pooling, Normalize."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.backends.base import cut_long_texts, length_sorted_batches
from embedcli.backends.models import ModelRef, ModelSource
from embedcli.backends.onnx import MODEL_FILE, PIPELINE_FILE, TOKENIZER_FILE
from embedcli.backends.onnx.cache import CacheEntry, verify_file
from embedcli.errors import ModelError, UsageError
from embedcli.metrics import unit_rows


def default_threads() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """Runs an exported model: texts in, pooled (and, as the model says, normalised) float32 vectors out."""

    def __init__(self, session: Any, tokenizer: Any, pipeline: dict[str, Any], max_length: int | None = None) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.pipeline = pipeline
        self.max_length = int(max_length or pipeline["max_length"])
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_length)
        self.input_names = [i.name for i in session.get_inputs()]
        self.pooling: list[str] = list(pipeline["pooling"])
        self.dimension = int(pipeline["dimension"])

    def prompt_for(self, prompt: str | None) -> str:
        """The prompt put before each text: the one asked for, else the model's default prompt, else none."""
        if prompt is not None:
            return prompt
        name = self.pipeline.get("default_prompt_name")
        return str(self.pipeline.get("prompts", {}).get(name, "")) if name else ""

    def encode(self, texts: list[str], batch_size: int, prompt: str | None = None) -> tuple[np.ndarray, int]:
        """Vectors of shape (len(texts), dimension) in input order, and how many texts were truncated.

        Texts are tokenized together, then run in batches of similar length (less padding).
        """
        prefix = self.prompt_for(prompt)
        if self.pipeline.get("lowercase"):
            texts = [t.lower() for t in texts]
        texts = cut_long_texts(texts, self.max_length, self._token_count)
        encodings = self.tokenizer.encode_batch([prefix + t for t in texts] if prefix else texts)
        truncated = sum(1 for e in encodings if e.overflowing)
        prompt_tokens = 0
        if prefix and not self.pipeline.get("include_prompt", True):
            prompt_tokens = len(self.tokenizer.encode(prefix).ids) - 1  # as sentence-transformers: minus [SEP]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for indices in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
            out[indices] = self._run([encodings[i] for i in indices], prompt_tokens)
        return out, truncated

    def _token_count(self, text: str) -> int:
        # Truncation is on: the pieces past the limit come back as overflowing encodings.
        encoding = self.tokenizer.encode(text)
        return len(encoding.ids) + sum(len(piece.ids) for piece in encoding.overflowing)

    def _run(self, encodings: list[Any], prompt_tokens: int) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            types[row, :n] = enc.type_ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tokens = self.session.run(None, {name: feeds[name] for name in self.input_names})[0]
        if prompt_tokens:
            mask = mask.copy()
            mask[:, :prompt_tokens] = 0
        vectors = pool(tokens, mask, self.pooling)
        if self.pipeline.get("normalize"):
            vectors = unit_rows(vectors)
        return vectors


def pool(tokens: np.ndarray, mask: np.ndarray, modes: list[str]) -> np.ndarray:
    """Pool token vectors (batch, seq, hidden) under an attention mask (batch, seq), as sentence-transformers does.

    Several modes are concatenated in the order given. Padding is on the right.
    """
    tokens = tokens.astype(np.float32, copy=False)
    weights = mask[:, :, None].astype(np.float32)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(tokens[np.arange(len(tokens)), mask.argmax(axis=1)])
        elif mode == "max":
            parts.append(np.where(weights > 0, tokens, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (tokens * weights).sum(axis=1)
            count = np.maximum(weights.sum(axis=1), 1e-9)
            parts.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            parts.append(tokens[np.arange(len(tokens)), last])
        else:
            raise ModelError(f"pooling mode '{mode}' is not supported by the onnx backend")
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def load_encoder(entry: CacheEntry, threads: int | None = None, max_length: int | None = None) -> OnnxEncoder | None:
    """An encoder for a cached export, or None when a file does not match its checksum (a damaged entry)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    files = {name: verify_file(entry, name) for name in (MODEL_FILE, TOKENIZER_FILE, PIPELINE_FILE)}
    model, tokenizer, pipeline = files[MODEL_FILE], files[TOKENIZER_FILE], files[PIPELINE_FILE]
    if model is None or tokenizer is None or pipeline is None:
        return None
    settings = ort.SessionOptions()
    settings.intra_op_num_threads = threads or default_threads()
    settings.inter_op_num_threads = 1
    settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    settings.log_severity_level = 3
    try:
        session = ort.InferenceSession(model, settings, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load the cached export {entry.path}: {exc}", hint="embedcli models --clear") from None
    return OnnxEncoder(session, Tokenizer.from_str(tokenizer.decode()), json.loads(pipeline), max_length)


def local_model_folder(model: ModelRef) -> Path | None:
    """Where the model's files are on this machine: its folder, or its snapshot in the Hugging Face cache."""
    if model.source is ModelSource.file:
        raise UsageError(
            f"the onnx backend exports transformer models; '{model.name}' is a file",
            hint="use --backend word-vectors for word-vector files",
        )
    if model.is_local:
        return Path(model.location)
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub"
    )
    repo = Path(hub) / ("models--" + model.location.replace("/", "--"))
    try:
        revision = (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / revision
    return snapshot if snapshot.is_dir() else None
