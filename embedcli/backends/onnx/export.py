"""Export a sentence-transformers (or plain Hugging Face) model to ONNX, check it, optionally quantize it, cache it.

This is the only module on the onnx path that imports torch, and only while exporting. The graph maps token ids
to token vectors; the rest of the pipeline (tokenizer settings, pooling, Normalize, prompts) is recorded in
`pipeline.json` and run by `embedcli.backends.onnx.runtime`. Every export is compared with sentence-transformers itself
on texts of several lengths (padding and truncation included) before it is stored: the legacy TorchScript
exporter has been seen to produce wrong token states with transformers 5, so the dynamo exporter is tried first
and any export that does not match is refused.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.backends.models import ModelRef
from embedcli.backends.onnx import MODEL_FILE, PIPELINE_FILE, TOKENIZER_FILE, Quantize, export_options
from embedcli.backends.onnx.cache import CacheEntry, build_entry, entry_key, model_content_hash, verify_file
from embedcli.backends.onnx.encoder import OnnxEncoder, local_model_folder
from embedcli.errors import ModelError

# An export must reproduce sentence-transformers' vectors this closely (the accuracy test asks the same).
FP32_TOLERANCE = 1e-4
# int8 vectors must stay this close (cosine) to the fp32 ones on the check texts, on average.
INT8_MIN_MEAN_COSINE = 0.95
_SUPPORTED_POOLING = {"cls", "mean", "max", "mean_sqrt_len_tokens", "lasttoken"}
_CHECK_BATCH = 4
# The sentence-transformers modules an export reproduces (the graph runs the Transformer; numpy does the rest).
_EXPORTABLE_MODULES = {"Transformer", "Pooling", "Normalize"}


class ExportRefused(ModelError):
    """The model loads but cannot be exported faithfully (a module the graph cannot hold, or vectors that differ):
    a property of the model files, so the auto backend remembers it rather than trying again every run."""


def unexportable_modules(folder: Path) -> list[str]:
    """The modules listed in `folder`/modules.json that an export cannot reproduce (read without loading torch).

    Empty when every module is exportable or the folder has no modules.json (a plain Hugging Face model).
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(modules, list):
        return []
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    return [kind for kind in kinds if kind not in _EXPORTABLE_MODULES]


def check_texts(max_length: int) -> list[str]:
    """Texts of very different lengths, so checks run padded batches and one truncated text."""
    return [
        "Hello world.",
        "A man is playing a guitar on the street while people walk past.",
        "Ünïcödé, émojis 🙂 and numbers 3.14159 in one line!",
        "Short",
        "The quick brown fox jumps over the lazy dog. " * 4,
        " ".join(["token"] * (max_length + 16)),  # longer than the model's limit: truncated
        "Why?",
        "Embeddings map sentences to vectors so that similar meanings end up close together.",
    ]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the exporters' chatter off stdout (which carries data) and their warnings and logs off stderr."""
    loggers = [logging.getLogger(), logging.getLogger("torch")]  # onnxruntime.quantization logs to the root
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def download_model(model: ModelRef) -> Path:
    """The model's files from the hub (its local cache when offline); ModelError when they cannot be had."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model.location))
    except Exception as exc:
        from embedcli.backends.hf import load_failure

        raise load_failure(model, exc) from None


def export_cached(model: ModelRef, quantize: Quantize) -> CacheEntry:
    """The cache entry of `model` exported (and quantized) as asked, exporting it first if needed."""
    folder = local_model_folder(model) or download_model(model)
    key = entry_key(model_content_hash(folder), export_options(quantize))

    def build(staging: Path) -> dict[str, Any]:
        if quantize is Quantize.none:
            report = export_model(model, staging)
        else:
            report = quantize_export(export_cached(model, Quantize.none), staging)
        return {"model": model.name, "source": model.location, "options": export_options(quantize), **report}

    return build_entry(key, build, accept=_intact)


def _intact(entry: CacheEntry) -> bool:
    return all(verify_file(entry, name) is not None for name in entry.manifest["files"])


def _load_sentence_transformer(model: ModelRef) -> Any:
    from embedcli.backends.hf import load_failure, quiet_hugging_face

    quiet_hugging_face()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model.location, device="cpu", local_files_only=model.is_local)
    except Exception as exc:
        raise load_failure(model, exc) from None


def describe_pipeline(st: Any) -> dict[str, Any]:
    """What the backend needs to redo around the graph: the loaded model's pooling, Normalize, limits, prompts."""
    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    if not kinds or kinds[0] != "Transformer" or len(kinds) < 2 or kinds[1] != "Pooling":
        raise ExportRefused(f"the onnx backend exports Transformer + Pooling models; this one is {' + '.join(kinds)}")
    rest = kinds[2:]
    if rest not in ([], ["Normalize"]):
        raise ExportRefused(
            f"the onnx backend cannot export the module(s) {', '.join(rest)}",
            hint="use --backend sentence-transformers for this model",
        )
    pooling = modules[1]
    modes = [pooling.pooling_mode] if isinstance(pooling.pooling_mode, str) else list(pooling.pooling_mode)
    unsupported = sorted(set(modes) - _SUPPORTED_POOLING)
    if unsupported:
        raise ExportRefused(f"the onnx backend does not support pooling mode {', '.join(unsupported)}")
    if st.max_seq_length is None:
        raise ExportRefused("the model declares no maximum sequence length")
    return {
        "pooling": modes,
        "normalize": rest == ["Normalize"],
        "max_length": int(st.max_seq_length),
        "dimension": int(st.get_embedding_dimension()),
        "prompts": dict(st.prompts or {}),
        "default_prompt_name": st.default_prompt_name,
        "include_prompt": bool(getattr(pooling, "include_prompt", True)),
        "lowercase": bool(getattr(modules[0], "do_lower_case", False)),
    }


class _TokenStates:
    """Wraps the Hugging Face model so the graph takes plain tensors and returns the last hidden state."""

    @staticmethod
    def build(hf_model: Any, names: list[str]) -> Any:
        import torch

        class TokenStates(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = hf_model

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
                inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
                if "token_type_ids" in names:
                    inputs["token_type_ids"] = token_type_ids
                return self.model(**inputs).last_hidden_state

        return TokenStates().eval()


def _graph_inputs(hf_model: Any, tokenizer: Any) -> list[str]:
    accepted = set(inspect.signature(hf_model.forward).parameters)
    produced = tokenizer.encode("a pair", "of texts")
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in accepted and produced.type_ids and max(produced.type_ids) > 0:
        names.append("token_type_ids")
    return names


def _export_graph(module: Any, names: list[str], path: Path, dynamo: bool) -> None:
    import torch

    ids = torch.tensor([[101, 7592, 2088, 999, 102], [101, 7592, 102, 0, 0]], dtype=torch.int64)
    sample = {
        "input_ids": ids,
        "attention_mask": (ids != 0).to(torch.int64),
        "token_type_ids": torch.zeros_like(ids),
    }
    args = tuple(sample[n] for n in names)
    if dynamo:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        shapes = {n: ({0: batch, 1: seq} if n in names else None) for n in sample}
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=True,
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_shapes=shapes,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    else:
        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
        )


def _encoder(model_path: Path, tokenizer_json: str, pipeline: dict[str, Any]) -> OnnxEncoder:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    settings = ort.SessionOptions()
    settings.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), settings, providers=["CPUExecutionProvider"])
    return OnnxEncoder(session, Tokenizer.from_str(tokenizer_json), pipeline)


def export_model(model: ModelRef, out: Path) -> dict[str, Any]:
    """Write model.onnx, tokenizer.json and pipeline.json for `model` into `out`; returns what to record.

    Raises ExportRefused when the model cannot be exported or no exporter reproduces sentence-transformers,
    ModelError when it cannot be loaded at all.
    """
    import torch

    st = _load_sentence_transformer(model)
    pipeline = describe_pipeline(st)
    transformer = st[0]
    hf_tokenizer = transformer.tokenizer
    if not getattr(hf_tokenizer, "is_fast", False):
        raise ExportRefused("the onnx backend needs a fast tokenizer (tokenizer.json); this model has none")
    from tokenizers import Tokenizer

    # A copy: sentence-transformers keeps using the original to compute the reference vectors.
    backend_tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    backend_tokenizer.no_padding()
    backend_tokenizer.enable_truncation(pipeline["max_length"])
    tokenizer_json = backend_tokenizer.to_str()
    (out / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
    (out / PIPELINE_FILE).write_text(json.dumps(pipeline, indent=2), encoding="utf-8")

    texts = check_texts(pipeline["max_length"])
    with torch.inference_mode():
        expected = st.encode(texts, batch_size=_CHECK_BATCH, convert_to_numpy=True, show_progress_bar=False)
    names = _graph_inputs(transformer.auto_model, backend_tokenizer)
    module = _TokenStates.build(transformer.auto_model, names)
    failures = []
    for dynamo in (True, False):
        exporter = "dynamo" if dynamo else "torchscript"
        try:
            with _quiet():
                _export_graph(module, names, out / MODEL_FILE, dynamo)
            got, _ = _encoder(out / MODEL_FILE, tokenizer_json, pipeline).encode(texts, _CHECK_BATCH)
        except Exception as exc:  # exporters fail in many ways; the next one may work
            failures.append(f"{exporter}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
            continue
        error = float(np.abs(got - expected).max())
        if error <= FP32_TOLERANCE:
            return {"exporter": exporter, "max_abs_error": error, "pipeline": pipeline}
        failures.append(f"{exporter}: vectors differ from sentence-transformers by up to {error:.2g}")
    (out / MODEL_FILE).unlink(missing_ok=True)
    raise ExportRefused(
        f"cannot export '{model.name}' to ONNX faithfully ({'; '.join(failures)})",
        hint="use --backend sentence-transformers for this model",
    )


def quantize_export(source: CacheEntry, out: Path) -> dict[str, Any]:
    """Dynamic int8 of a checked fp32 export: MatMul weights per output channel, activations per batch."""
    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name in (TOKENIZER_FILE, PIPELINE_FILE):
        shutil.copyfile(source.file(name), out / name)
    options = export_options(Quantize.int8)
    with _quiet():
        quantize_dynamic(
            str(source.file(MODEL_FILE)),
            str(out / MODEL_FILE),
            per_channel=options["per_channel"],
            reduce_range=options["reduce_range"],
            weight_type=QuantType.QInt8,
            op_types_to_quantize=options["ops"],
        )
    pipeline = json.loads((out / PIPELINE_FILE).read_text(encoding="utf-8"))
    tokenizer_json = (out / TOKENIZER_FILE).read_text(encoding="utf-8")
    texts = check_texts(pipeline["max_length"])
    reference, _ = _encoder(source.file(MODEL_FILE), tokenizer_json, pipeline).encode(texts, _CHECK_BATCH)
    got, _ = _encoder(out / MODEL_FILE, tokenizer_json, pipeline).encode(texts, _CHECK_BATCH)
    cosines = _cosines(reference, got)
    if float(cosines.mean()) < INT8_MIN_MEAN_COSINE:
        raise ModelError(
            f"int8 quantization changes this model's vectors too much (mean cosine to fp32 {cosines.mean():.3f})",
            hint="use --quantize none",
        )
    return {
        "exporter": source.manifest.get("exporter"),
        "int8_cosine_mean": float(cosines.mean()),
        "int8_cosine_min": float(cosines.min()),
        "pipeline": pipeline,
    }


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
