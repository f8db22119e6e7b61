"""What made a vector file: the typed record `embed` writes beside the vectors and later commands trust.

Written and read in one place: `Provenance.to_dict` gives what goes into a file's metadata (JSON under the schema
key `embedcli`), `Provenance.from_dict` reads it back. Files written before this record existed carry the same keys,
so they stay readable; keys this version does not know are kept in `extra` and written back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

# Keys every vector file records, even when their value is None (a later reader then knows it was "not set").
_ALWAYS = ("backend", "model", "max_length", "dimension", "normalized", "precision", "prompt", "truncate_dim")
# Backends that give the same vectors for the same model files: an fp32 onnx export is used only after it matched
# sentence-transformers on check texts (within 1e-5 under the auto backend), so their vectors mix freely.
SENTENCE_FAMILY = "sentence-transformers"
_SENTENCE_BACKENDS = ("sentence-transformers", "onnx")


def vector_family(backend: str | None, quantize: str | None = None) -> str | None:
    """The family of vectors a backend makes: equal within 1e-5 for the same model files, so comparable.

    fp32 onnx and sentence-transformers are one family ("sentence-transformers"); a quantized export is its own
    ("onnx-int8"), as is every other backend (its name). None when the backend is not recorded.
    """
    if backend is None:
        return None
    quantized = quantize not in (None, "none")
    if backend in _SENTENCE_BACKENDS and not quantized:
        return SENTENCE_FAMILY
    return f"{backend}-{quantize}" if quantized else backend


@dataclass(frozen=True)
class Provenance:
    """The model and settings behind a set of vectors; every field but `extra` is optional for old files.

    `quantization_ranges` is the (dimension, 2) per-dimension (low, high) used for int8/uint8 vectors;
    `reduction` describes a `reduce` step applied to vectors that `embed` made. `modality` says whether the rows
    are texts, images or sounds, so `similar` knows which queries can meet them; `media_root` is where their files
    were (`media_root / id`; an absolute id stands alone), so `reduce --thumbnails` can find them later.
    """

    embedcli_version: str | None = None
    backend: str | None = None
    model: str | None = None
    max_length: int | None = None
    dimension: int | None = None
    normalized: bool | None = None  # None: not recorded (a file from elsewhere)
    precision: str | None = None
    prompt: str | None = None
    truncate_dim: int | None = None
    quantize: str | None = None
    quantization_ranges: list[list[float]] | None = None
    reduction: dict[str, Any] | None = None
    modality: str | None = None  # text, image or audio: what the rows were made from (None: an older file)
    layers: list[int] | None = None  # the hidden states averaged (--layer/--layers), as the user counted them
    media_root: str | None = None  # image/audio rows: the absolute folder their ids (paths) are relative to
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Provenance:
        """Read a recorded mapping (possibly empty, or from an older version); unknown keys go to `extra`."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: raw.pop(k) for k in list(raw) if k in known}
        if values.get("normalized") is not None:
            values["normalized"] = bool(values["normalized"])
        return cls(**values, extra=raw)

    def to_dict(self) -> dict[str, Any]:
        """The mapping to record: known keys first (unset optional ones left out), then `extra` as it was read."""
        out: dict[str, Any] = {}
        if self.embedcli_version is not None:
            out["embedcli_version"] = self.embedcli_version
        for f in fields(self):
            if f.name in ("embedcli_version", "extra"):
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in _ALWAYS:
                out[f.name] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """A recorded value by name, known or extra (for keys only some backends or reducers record)."""
        if key != "extra" and key in {f.name for f in fields(self)}:
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)

    @property
    def family(self) -> str | None:
        """The family of these vectors (`vector_family` of the recorded backend and quantization)."""
        return vector_family(self.backend, self.quantize)

    def with_changes(self, **changes: Any) -> Provenance:
        return replace(self, **changes)

    @property
    def is_empty(self) -> bool:
        return self == Provenance()
