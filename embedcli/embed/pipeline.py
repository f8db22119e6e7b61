"""The embed pipeline: records in, embedded batches out, in input order, in bounded memory.

Records are taken a window at a time (a few batches' worth, so backends can sort by length inside it),
embedded, then shaped once for every backend: Matryoshka truncation, L2 normalisation, precision.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli import __version__
from embedcli.backends.base import Backend
from embedcli.errors import InputError, ModelError, UsageError
from embedcli.metrics import unit_rows
from embedcli.precision import Precision, calibration_ranges, quantize
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch, Record, columns_of

# Batches per window: enough for length sorting to pay, few enough that the first rows come out early.
WINDOW_BATCHES = 16


@dataclass(frozen=True)
class EmbedSettings:
    batch_size: int = 32
    normalize: bool = False
    dim: int | None = None
    precision: Precision = Precision.float32
    window: int | None = None  # records per window; default batch_size * WINDOW_BATCHES


@dataclass
class EmbedReport:
    """What happened, for the end-of-run summary."""

    count: int = 0
    truncated: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


class EmbeddingRun:
    """Embeds records with a backend. Iterate `batches()`; read `provenance()` once the first batch exists."""

    def __init__(
        self, backend: Backend, settings: EmbedSettings, modality: str = "text", media_root: str | None = None
    ) -> None:
        if settings.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if settings.dim is not None and not 0 < settings.dim <= backend.dimension:
            raise UsageError(f"--dim must be between 1 and the model's dimension, {backend.dimension}")
        self.backend = backend
        self.settings = settings
        self.report = EmbedReport()
        self.modality = modality
        self.media_root = media_root
        self._ranges: np.ndarray | None = None
        self._started: float | None = None

    def use_ranges(self, ranges: np.ndarray) -> None:
        """Quantize int8/uint8 with these (2, dimension) calibration ranges instead of measuring the first batch."""
        self._ranges = ranges

    @property
    def ranges(self) -> np.ndarray | None:
        """The int8/uint8 calibration ranges in use (2, dimension), once given or measured; else None."""
        return self._ranges

    def calibrate(self, texts: list[str]) -> np.ndarray:
        """Measure the int8/uint8 ranges on `texts` as `batches()` would on its first window, and keep them.

        An engine that splits one run over workers measures once, on the run's first window, and hands the ranges
        to every worker (`use_ranges`), so every row is quantized alike and equals the local engine's. The texts'
        truncations are not counted: they are embedded again as rows.
        """
        truncated = self.backend.truncated
        self._ranges = calibration_ranges(self._floats(self.backend.embed(texts), [Record(t, t) for t in texts]))
        self.backend.truncated = truncated
        return self._ranges

    @property
    def dimension(self) -> int:
        return self.settings.dim or self.backend.dimension

    def batches(
        self,
        records: Iterable[Record],
        on_progress: Callable[[EmbedReport], None] | None = None,
        columns: Sequence[str] = (),
    ) -> Iterator[EmbeddedBatch]:
        """Embedded batches in record order; each carries the records' values of `columns` (None where a record
        has none), so every batch has the same extra columns."""
        window = self.settings.window or self.settings.batch_size * WINDOW_BATCHES
        started = time.perf_counter()
        iterator = iter(records)
        while chunk := list(itertools.islice(iterator, window)):
            texts = [r.text for r in chunk]
            vectors = self._shape(self.backend.embed(texts), chunk)
            self.report.count += len(chunk)
            self.report.truncated = self.backend.truncated
            self.report.seconds = time.perf_counter() - started
            if on_progress is not None:
                on_progress(self.report)
            kept = {name: [(columns_of(r) or {}).get(name) for r in chunk] for name in columns}
            yield EmbeddedBatch([r.id for r in chunk], texts, vectors, kept)
        self.report.notes = self.backend.notes()

    def shaped(self, ids: list[str], vectors: np.ndarray) -> EmbeddedBatch:
        """A batch the caller embedded itself (decoded images or sounds), shaped like `batches()` shapes its own;
        the row ids stand in for texts."""
        if self._started is None:
            self._started = time.perf_counter()
        shaped = self._shape(vectors, [Record(i, i) for i in ids])
        self.report.count += len(ids)
        self.report.seconds = time.perf_counter() - self._started
        return EmbeddedBatch(list(ids), list(ids), shaped)

    def start_clock(self) -> None:
        """Count `report.seconds` for `shaped()` batches from now (decoding of the first batch included)."""
        self._started = time.perf_counter()

    def _shape(self, vectors: np.ndarray, chunk: list[Record]) -> np.ndarray:
        vectors = self._floats(vectors, chunk)
        precision = self.settings.precision
        if precision in (Precision.int8, Precision.uint8) and self._ranges is None:
            self._ranges = calibration_ranges(vectors)
        return quantize(vectors, precision, self._ranges)

    def _floats(self, vectors: np.ndarray, chunk: list[Record]) -> np.ndarray:
        """The backend's vectors checked, truncated to --dim and normalised: float32, before precision."""
        expected = (len(chunk), self.backend.dimension)
        if vectors.shape != expected:
            raise ModelError(f"backend returned shape {vectors.shape}, expected {expected}")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            ids = ", ".join(r.id for r, b in zip(chunk, bad, strict=True) if b)
            raise InputError(f"the model produced NaN or infinite values for rows: {ids}")
        if self.settings.dim is not None:
            vectors = vectors[:, : self.settings.dim]
        if self.settings.normalize:
            vectors = unit_rows(vectors)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def provenance(self) -> Provenance:
        """What later commands need to trust and reuse these vectors (recorded in Parquet/Arrow schemas)."""
        described = self.backend.describe()
        meta: dict[str, Any] = {
            "embedcli_version": __version__,
            **described,
            "dimension": self.dimension,
            "normalized": self.settings.normalize,
            "precision": self.settings.precision.value,
            "prompt": self.backend.options.prompt,
            "truncate_dim": self.settings.dim,
            "modality": self.modality,
        }
        if self._ranges is not None:
            meta["quantization_ranges"] = self._ranges.tolist()
        if self.media_root is not None:
            meta["media_root"] = self.media_root
        return Provenance.from_dict(meta)
