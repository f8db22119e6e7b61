"""The named shapes data takes between stages: records in, embedded batches out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # numpy only names types here, so the CLI's options load without it
    import numpy as np

from embedcli.provenance import Provenance


class Record(NamedTuple):
    """One input item: a stable id (joinable back to the input), its text and, when the input's other columns are
    kept (`--keep-columns`, a document's title), their values by name (None: no such columns)."""

    id: str
    text: str
    columns: dict[str, Any] | None = None


@dataclass
class EmbeddedBatch:
    """Consecutive rows of output, in input order. `vectors` has shape (len(ids), width); `columns` holds extra
    columns (name -> one value per row, same names and types in every batch), written after the vectors."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    columns: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class VectorTable:
    """A table of vectors read back from a file: ids, optional texts, the matrix and its metadata.

    `vectors` may be a read-only memory map (NPY inputs); `provenance` is what `embed` recorded (may be empty).
    """

    ids: list[str]
    vectors: np.ndarray
    texts: list[str] | None = None
    provenance: Provenance = field(default_factory=Provenance)
    columns: dict[str, list[Any]] = field(default_factory=dict)
