"""The named shapes data takes between stages: records in, embedded batches out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, overload

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


class RowIds(Sequence[str]):
    """The ids of `n` rows that carry none (an NPY matrix): row numbers from 1, as strings, made when asked for.

    A million ids held as Python strings cost about 60 MiB, a quarter of a 1M x 64 float32 corpus; `similar` asks
    for the k ids it prints. Slicing gives a list; `index` and `in` are arithmetic."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [str(i + 1) for i in range(*index.indices(self._n))]
        if not -self._n <= index < self._n:
            raise IndexError(f"row {index} of {self._n}")
        return str(index % self._n + 1)

    def __iter__(self) -> Iterator[str]:
        return (str(i) for i in range(1, self._n + 1))

    def __contains__(self, value: object) -> bool:
        return self.row_of(value) is not None

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        row = self.row_of(value)
        if row is None or not start <= row < (self._n if stop is None else stop):
            raise ValueError(f"{value!r} is not a row id here")
        return row

    def row_of(self, value: object) -> int | None:
        """The row whose id is `value` ('7' is row 6), or None."""
        if not isinstance(value, str) or not value.isdigit() or value != str(int(value)):
            return None
        row = int(value) - 1
        return row if 0 <= row < self._n else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowIds):
            return self._n == other._n
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == self._n and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list

    def __repr__(self) -> str:
        return f"RowIds({self._n})"


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
    `ids` is a list, or `RowIds` for rows that carry no ids (NPY).
    """

    ids: Sequence[str]
    vectors: np.ndarray
    texts: list[str] | None = None
    provenance: Provenance = field(default_factory=Provenance)
    columns: dict[str, list[Any]] = field(default_factory=dict)
