"""A Parquet or Arrow vector file seen as a read-only matrix, read a batch at a time: corpora larger than memory.

Search reads its corpus in consecutive row ranges (`matrix[a:b]`, in increasing order) and gathers a few rows at
the end (`matrix[sorted_rows]`). Both are served by a pass over the file's batches, keeping only the rows still
ahead of the last request, so memory is bounded by a block plus one batch, never by the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from embedcli.formats.vector_batches import VectorBatches

BATCH_ROWS = 16_384


class BatchedMatrix:
    """`batches.num_rows` x `batches.width` stored values (their own dtype), read in order from `batches`."""

    def __init__(self, batches: VectorBatches, batch_rows: int = BATCH_ROWS) -> None:
        self._batches = batches
        self._batch_rows = batch_rows
        self.shape = (batches.num_rows, batches.width)
        first = next(self._vectors(), None)
        self.dtype = first.dtype if first is not None else np.dtype(np.float32)
        self._restart()

    def __len__(self) -> int:
        return self.shape[0]

    def _vectors(self) -> Iterator[np.ndarray]:
        for batch in self._batches.batches(self._batch_rows, vectors_only=True):
            yield batch.vectors

    def _restart(self) -> None:
        self._iterator = self._vectors()
        self._start = 0  # row number of self._buffer[0]
        self._buffer = np.empty((0, self.shape[1]), self.dtype)

    def _drop_before(self, start: int) -> None:
        cut = min(max(start - self._start, 0), len(self._buffer))
        self._buffer = self._buffer[cut:]
        self._start += cut

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a view of the buffer; requests should come in increasing order."""
        if start < self._start:
            self._restart()
        self._drop_before(start)
        while self._start + len(self._buffer) < stop:
            batch = next(self._iterator, None)
            if batch is None:
                break
            self._buffer = np.concatenate([self._buffer, batch]) if len(self._buffer) else batch
            self._drop_before(start)
        return self._buffer[: stop - self._start]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("only contiguous row ranges")
            return np.array(self._rows(start, stop)) if stop > start else np.empty((0, self.shape[1]), self.dtype)
        rows = np.asarray(key, dtype=np.int64)
        if rows.ndim == 0:
            return self[int(rows) : int(rows) + 1][0]
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        sorted_rows = rows[order]
        self._restart()
        for place, row in zip(order.tolist(), sorted_rows.tolist(), strict=True):
            out[place] = self._rows(row, row + 1)[0]
        return out
