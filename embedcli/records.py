"""The named shapes data takes between stages: records in, embedded batches out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # numpy only names types here, so the CLI's options load without it
    import numpy as np

from embedcli.provenance import Provenance


class Record(NamedTuple):
    """One input item: a stable id (joinable back to the input) and its text."""

    id: str
    text: str

    def with_id(self, new_id: str) -> Record:
        """This record under another id (`_replace` would lose a KeptRecord's columns)."""
        return Record(new_id, self.text)


class KeptRecord(Record):
    """A record that also carries the values of its input's other kept columns by name (`--keep-columns`, a
    document's title). It still unpacks, compares and prints as (id, text), as every Record does."""

    columns: dict[str, Any]

    def __new__(cls, id: str, text: str, columns: dict[str, Any]) -> KeptRecord:
        record = super().__new__(cls, id, text)
        record.columns = columns
        return record

    def with_id(self, new_id: str) -> KeptRecord:
        return KeptRecord(new_id, self.text, self.columns)


def columns_of(record: Record) -> dict[str, Any] | None:
    """The kept column values of `record` (None for a plain Record)."""
    return record.columns if isinstance(record, KeptRecord) else None


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
