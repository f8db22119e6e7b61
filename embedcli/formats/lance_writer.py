"""Write rows into a Lance store in committed batches, so a crash loses at most one batch of work.

Rows are buffered and upserted as one commit every `commit_rows` rows or `commit_seconds` seconds, whichever
comes first. A killed process leaves the store at its last commit; running the same input again skips the rows
already committed with the same content hash (see `embedcli.embed.incremental`), so resuming is a re-run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import numpy as np

from embedcli.formats.lance_store import LanceStore, StoreBusy, store_lock


class StoreWriter:
    """Buffer rows and commit them to `store` in batches; holds the store's writer lock while open.

    Use as a context manager. On leaving the block the buffered rows are committed, also when the block
    raised (the rows are whole and correct; a Ctrl-C keeps them), except when a commit itself failed.
    `inserted`, `updated`, `deleted` and `commits` count what was committed.
    """

    def __init__(
        self,
        store: LanceStore,
        *,
        commit_rows: int = 4_096,
        commit_seconds: float = 5.0,
        lock_wait_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.commit_rows = commit_rows
        self.commit_seconds = commit_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self._clock = clock
        self._stack = ExitStack()
        self._ids: list[str] = []
        self._hashes: list[str] = []
        self._texts: list[str] = []
        self._vectors: list[np.ndarray] = []
        self._columns: dict[str, list[Any]] = {}
        self._since = clock()
        self._failed = False
        self._all_new = True
        self.inserted = self.updated = self.deleted = self.commits = 0

    def __enter__(self) -> StoreWriter:
        self._stack.enter_context(store_lock(self.store.path, self.lock_wait_seconds))
        provenance = self.store.provenance
        self.store.refresh()  # another writer may have committed between opening the store and taking the lock
        if self.store.provenance != provenance:
            self._stack.close()
            raise StoreBusy(
                f"{self.store.path}: another process rebuilt this store with other settings", hint="run again"
            )
        self._since = self._clock()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if not self._failed:
                self.flush()
        finally:
            self._stack.close()

    @property
    def pending(self) -> int:
        """Rows buffered but not yet committed."""
        return len(self._ids)

    def add(
        self,
        ids: Sequence[str],
        hashes: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        new: bool = False,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        """Buffer rows (vectors of shape (len(ids), store.width)); commit when the batch is full or old enough.

        `new` says the ids were read as absent while this writer held the lock: a commit of only such rows is an
        append, any other an upsert by id. `columns` holds the rows' values of the store's other columns."""
        self._all_new = self._all_new and new
        for name in self.store.columns:
            given = (columns or {}).get(name)
            self._columns.setdefault(name, []).extend(given if given is not None else [None] * len(ids))
        self._ids.extend(ids)
        self._hashes.extend(hashes)
        self._texts.extend(texts if texts is not None else [""] * len(ids))
        self._vectors.append(np.asarray(vectors))
        if len(self._ids) >= self.commit_rows or self._clock() - self._since >= self.commit_seconds:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered rows as one new version (nothing when the buffer is empty)."""
        self._since = self._clock()
        if not self._ids:
            return
        try:
            texts = self._texts if self.store.has_text else None
            vectors = np.concatenate(self._vectors)
            if self._all_new:
                inserted, updated = self.store.append(self._ids, self._hashes, vectors, texts, self._columns), 0
            else:
                inserted, updated = self.store.upsert(self._ids, self._hashes, vectors, texts, self._columns)
        except BaseException:
            self._failed = True
            raise
        self.inserted += inserted
        self.updated += updated
        self.commits += 1
        self._ids, self._hashes, self._texts, self._vectors, self._columns = [], [], [], [], {}
        self._all_new = True

    def delete(self, ids: Sequence[str]) -> int:
        """Commit the buffer, then delete `ids` as one more commit; returns how many rows were deleted."""
        self.flush()
        deleted = self.store.delete(ids)
        self.deleted += deleted
        if deleted:
            self.commits += 1
        return deleted
