"""The default backend, `auto`: the cached fp32 ONNX export where a model exports faithfully, else
sentence-transformers.

The decision is made once per model (by the content hash of its files) and kept in the export cache: an export
that exists is used without a word and without importing torch; a model that cannot be exported leaves a marker,
so later runs go straight to sentence-transformers. The run that decides says which and why in one line (through
`BackendOptions.announce`). Word-vector files never come here (`choose_backend` sends them to word-vectors).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from embedcli.backends.base import Backend, BackendOptions, Device
from embedcli.backends.models import ModelRef
from embedcli.backends.onnx import Quantize, export_options
from embedcli.backends.onnx.cache import (
    CacheEntry,
    discard_entry,
    entry_key,
    find_entry,
    forget_failure,
    model_content_hash,
    recorded_failure,
    remember_failure,
)
from embedcli.backends.onnx.encoder import local_model_folder
from embedcli.backends.onnx.export import ExportRefused, download_model, export_cached, unexportable_modules

AUTO = "auto"
# auto promises vectors equal to sentence-transformers' within this (the explicit onnx backend accepts 1e-4).
AUTO_TOLERANCE = 1e-5
_RETRY = "embedcli models --export {name} tries again"


@dataclass(frozen=True)
class ExportResult:
    """What `export_for_auto` did: the entry, whether it was built now, and how long that took."""

    entry: CacheEntry
    built: bool
    seconds: float

    @property
    def max_abs_error(self) -> float | None:
        value = self.entry.manifest.get("max_abs_error")
        return float(value) if value is not None else None


def open_auto(model: ModelRef, options: BackendOptions) -> Backend:
    """The backend `auto` stands for, with the model loaded: onnx (fp32, or int8 when asked) or
    sentence-transformers. Raises ModelError only when the model cannot be loaded at all."""
    quantize = Quantize(options.extra.get("quantize") or Quantize.none)
    if quantize is not Quantize.none:  # int8 is opt-in and only onnx makes it
        return _onnx(model, options)
    if options.device not in (Device.auto, Device.cpu):  # an explicit accelerator: onnx runs on the CPU
        return _sentence_transformers(model, options)
    if importlib.util.find_spec("onnxruntime") is None:
        _say(options, f"auto backend: sentence-transformers for {model.name} (onnxruntime is not installed)")
        return _sentence_transformers(model, options)
    folder = local_model_folder(model)
    key = _fp32_key(folder) if folder is not None else None
    if key is not None:
        entry = find_entry(key, verify=False)
        if entry is not None and _faithful(entry):
            return _onnx(model, options)
        if recorded_failure(key) is not None:
            return _sentence_transformers(model, options)
    try:
        result = export_for_auto(model, announce=options.announce)
    except ExportRefused as exc:
        _say(
            options,
            f"auto backend: sentence-transformers for {model.name}: it cannot be exported to ONNX ({exc.message}); "
            f"remembered, {_RETRY.format(name=model.name)}",
        )
        return _sentence_transformers(model, options)
    error = result.max_abs_error
    _say(
        options,
        f"auto backend: onnx for {model.name}: exported in {result.seconds:.0f} s, its vectors match "
        f"sentence-transformers' (max |diff| {error:.1g}); cached for later runs",
    )
    return _onnx(model, options)


def export_for_auto(
    model: ModelRef, announce: Callable[[str], None] | None = None, refresh: bool = False
) -> ExportResult:
    """Make (or find) the fp32 export of `model` that auto accepts, remembering a refusal.

    `refresh` forgets a remembered refusal and exports again even when an export is cached. Raises ExportRefused
    (and remembers it) when the model cannot be exported faithfully, within AUTO_TOLERANCE; a plain ModelError
    when it cannot be loaded at all (nothing is remembered then).
    """
    # A hub model is fetched first, so a model that cannot be had fails as it would without auto, before any word.
    folder = local_model_folder(model) or download_model(model)
    key = _fp32_key(folder)
    if refresh:
        forget_failure(key)
        discard_entry(key)
    found = find_entry(key)
    if found is not None and _faithful(found):
        return ExportResult(found, built=False, seconds=0.0)
    modules = unexportable_modules(folder)
    if modules:  # known from modules.json: no need to load the model to refuse it
        raise _remember(key, model, f"it has a {', '.join(modules)} module after pooling")
    if announce is not None:
        announce(
            f"auto backend: exporting {model.name} to ONNX (fp32, checked against sentence-transformers): "
            "first use only, takes up to a minute"
        )
    started = time.perf_counter()
    try:
        entry = export_cached(model, Quantize.none)
    except ExportRefused as exc:
        raise _remember(key, model, exc.message) from None
    seconds = time.perf_counter() - started
    if not _faithful(entry):
        raise _remember(
            entry.key,
            model,
            f"its vectors differ from sentence-transformers' by up to {entry.manifest.get('max_abs_error'):.1g}",
        )
    return ExportResult(entry, built=True, seconds=seconds)


def _fp32_key(folder: Path) -> str:
    return entry_key(model_content_hash(folder), export_options(Quantize.none))


def _faithful(entry: CacheEntry) -> bool:
    error = entry.manifest.get("max_abs_error")
    return error is not None and float(error) <= AUTO_TOLERANCE


def _remember(key: str, model: ModelRef, reason: str) -> ExportRefused:
    remember_failure(key, model.name, reason)
    return ExportRefused(reason, hint="use --backend sentence-transformers for this model")


def _say(options: BackendOptions, line: str) -> None:
    if options.announce is not None:
        options.announce(line)


def _onnx(model: ModelRef, options: BackendOptions) -> Backend:
    from embedcli.backends.onnx.runtime import OnnxBackend

    return OnnxBackend(model, options)


def _sentence_transformers(model: ModelRef, options: BackendOptions) -> Backend:
    from embedcli.backends.sentence_transformers import SentenceTransformerBackend

    # Engine options of the onnx path mean nothing to sentence-transformers.
    return SentenceTransformerBackend(model, replace(options, extra={}))
