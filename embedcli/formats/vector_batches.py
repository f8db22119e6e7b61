"""Vector tables read a batch of rows at a time: Parquet row groups, Arrow record batches, NPY slices of a memory map.

Reducers that fit on more rows than memory holds (covariance accumulation, incremental PCA) and the pass that
transforms every row of a 10-million-row input read through here, so memory is bounded by one batch. An input is
read more than once (fit, then transform), so stdin is spooled to a temporary file first. JSON Lines has no cheap
batches: it is read whole with `read_vector_table` and sliced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from embedcli.errors import InputError
from embedcli.formats import STDIO, OutputFormat
from embedcli.formats.lance_store import is_store
from embedcli.formats.shard_folder import is_shard_folder, shard_parts
from embedcli.formats.sources import check_readable
from embedcli.formats.vector_files import (
    check_stream_end,
    provenance_of,
    read_vector_table,
    vector_input,
    vector_table_from_arrow,
)
from embedcli.provenance import Provenance
from embedcli.records import VectorTable


class VectorBatches:
    """A vector input opened for batched, repeatable reading. Use as a context manager (stdin spools to a file).

    Known after opening: `fmt`, `num_rows`, `width`, `provenance` (what `embed` recorded, may be empty),
    `has_text` and `column_names` (the columns besides id, text and the vectors).
    """

    def __init__(
        self, path: str, vector_column: str = "embedding", fmt: OutputFormat | None = None, version: int | None = None
    ) -> None:
        self.version = version
        self._parts: list[str] = []  # a shard folder's Parquet parts, read in order as one table
        if path == STDIO or not (is_store(path) or is_shard_folder(path)):
            check_readable(path)
        self.path = path
        self.name = "<stdin>" if path == STDIO else path
        self.vector_column = vector_column
        self._requested = fmt
        self._stack = contextlib.ExitStack()
        self._real = path
        self._table: VectorTable | None = None  # JSONL and stores: held whole
        self._npy: np.ndarray | None = None
        self.provenance = Provenance()
        self.column_names: list[str] = []
        self.has_text = False

    def __enter__(self) -> VectorBatches:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        if (self.path != STDIO and is_store(self.path)) or self.version is not None:
            self.fmt: OutputFormat = OutputFormat.lance
            self._table = read_vector_table(self.path, vector_column=self.vector_column, version=self.version)
            self.num_rows, self.width = self._table.vectors.shape
            self.provenance, self.has_text = self._table.provenance, self._table.texts is not None
            self.column_names = list(self._table.columns)
            return
        if self.path != STDIO and is_shard_folder(self.path):
            self._parts, self.fmt = shard_parts(self.path), OutputFormat.parquet
            self._open_arrow()
            return
        # Read more than once (fit, then transform): stdin is spooled whatever its format.
        self._real, fmt = self._stack.enter_context(vector_input(self.path, self._requested, reread=True))
        self.fmt = fmt
        if fmt is OutputFormat.jsonl:
            self._table = read_vector_table(self._real, fmt, self.vector_column)
            self.num_rows, self.width = self._table.vectors.shape
            self.provenance, self.has_text = self._table.provenance, self._table.texts is not None
            self.column_names = list(self._table.columns)
        elif fmt is OutputFormat.npy:
            try:
                self._npy = np.load(self._real, mmap_mode="r")
            except (OSError, ValueError, EOFError) as exc:  # np.load says EOFError for an empty file
                raise InputError(f"{self.name}: cannot read as npy: {exc or 'no data'}") from None
            if self._npy.ndim != 2:
                raise InputError(f"{self.name}: expected a 2-D matrix, got shape {self._npy.shape}")
            self.num_rows, self.width = self._npy.shape
        else:
            self._open_arrow()

    def _open_arrow(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if self.fmt is OutputFormat.parquet:
                files = [pq.ParquetFile(p) for p in self._parts or [self._real]]
                schema, self.num_rows = files[0].schema_arrow, sum(f.metadata.num_rows for f in files)
            elif self.fmt is OutputFormat.arrow:
                reader = pa.ipc.open_file(pa.memory_map(self._real))
                schema = reader.schema
                self.num_rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
            else:
                check_stream_end(self._real, self.name)
                reader = pa.ipc.open_stream(pa.memory_map(self._real))
                schema, self.num_rows = reader.schema, sum(b.num_rows for b in reader)  # zero-copy: cheap
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{self.name}: not a valid {self.fmt.value} file ({exc})") from None
        if self.vector_column not in schema.names:
            raise InputError(
                f"{self.name}: no vector column '{self.vector_column}'", hint=f"columns here: {', '.join(schema.names)}"
            )
        self.provenance = provenance_of(schema)
        self.has_text = "text" in schema.names
        self.column_names = [c for c in schema.names if c not in ("id", "text", self.vector_column)]
        kind = schema.field(self.vector_column).type
        if pa.types.is_fixed_size_list(kind):
            self.width = kind.list_size
        else:
            first = next(self.batches(1024, vectors_only=True), None)
            self.width = first.vectors.shape[1] if first is not None else 0

    def batches(self, rows: int, vectors_only: bool = False) -> Iterator[VectorTable]:
        """Consecutive batches of about `rows` rows (ids numbered from 1 across batches when the input has none).

        `vectors_only` skips reading ids, texts and other columns where the format allows (Parquet).
        """
        if self._table is not None or self._npy is not None:
            for start in range(0, self.num_rows, rows):
                yield self._slice(start, min(start + rows, self.num_rows))
            return
        offset = 0
        for table in self._arrow_tables(rows, vectors_only):
            batch = vector_table_from_arrow(table, self.name, self.vector_column)
            if "id" not in table.column_names:
                batch.ids = [str(i) for i in range(offset + 1, offset + len(batch.ids) + 1)]
            offset += len(batch.ids)
            yield batch

    def take(self, indices: np.ndarray, rows: int = 65_536) -> np.ndarray:
        """The vectors of the rows at sorted `indices`, as float32 (n, width), in one pass over the input."""
        indices = np.asarray(indices, dtype=np.int64)
        if self._npy is not None:
            return np.asarray(self._npy[indices], dtype=np.float32)
        parts, offset = [], 0
        for batch in self.batches(rows, vectors_only=True):
            end = offset + len(batch.vectors)
            lo, hi = np.searchsorted(indices, [offset, end])
            if hi > lo:
                parts.append(np.asarray(batch.vectors[indices[lo:hi] - offset], dtype=np.float32))
            offset = end
        return np.concatenate(parts) if parts else np.empty((0, self.width), np.float32)

    def _slice(self, start: int, stop: int) -> VectorTable:
        if self._npy is not None:
            ids = [str(i) for i in range(start + 1, stop + 1)]
            return VectorTable(ids=ids, vectors=np.asarray(self._npy[start:stop]), provenance=self.provenance)
        table = self._table
        assert table is not None
        return VectorTable(
            ids=table.ids[start:stop],
            vectors=table.vectors[start:stop],
            texts=table.texts[start:stop] if table.texts is not None else None,
            provenance=table.provenance,
            columns={k: v[start:stop] for k, v in table.columns.items()},
        )

    def _arrow_tables(self, rows: int, vectors_only: bool) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.fmt is OutputFormat.parquet:
            columns = [self.vector_column] if vectors_only else None
            for part in self._parts or [self._real]:
                for record_batch in pq.ParquetFile(part).iter_batches(batch_size=rows, columns=columns):
                    yield pa.Table.from_batches([record_batch])
            return
        if self.fmt is OutputFormat.arrow:
            reader = pa.ipc.open_file(pa.memory_map(self._real))
            record_batches: Any = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            record_batches = pa.ipc.open_stream(pa.memory_map(self._real))
        # Writers choose their own batch sizes: gather small ones up to `rows` (zero-copy views of the memory map).
        pending: list[Any] = []
        count = 0
        for record_batch in record_batches:
            pending.append(record_batch)
            count += record_batch.num_rows
            if count >= rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
