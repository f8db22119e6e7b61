"""StoreWriter: commits every N rows or T seconds, appends only rows known new, keeps rows on a Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lance")

from embedcli.formats.lance_store import LanceStore, StoreBusy, create_store, open_store
from embedcli.formats.lance_writer import StoreWriter
from embedcli.precision import Precision
from embedcli.provenance import Provenance


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rows(start: int, n: int) -> tuple[list[str], list[str], np.ndarray]:
    ids = [f"r{i}" for i in range(start, start + n)]
    return ids, [f"h{i}" for i in ids], np.arange(start * 4, (start + n) * 4, dtype=np.float32).reshape(n, 4)


@pytest.fixture
def store(tmp_path: Path) -> LanceStore:
    return create_store(tmp_path / "w.lance", {"model": "m"}, Precision.float32, 4)


def test_commits_every_n_rows(store: LanceStore) -> None:
    with StoreWriter(store, commit_rows=10, commit_seconds=1e9) as writer:
        for start in range(0, 25, 5):
            writer.add(*_rows(start, 5), new=True)
        assert writer.commits == 2 and writer.pending == 5
        assert open_store(store.path).count_rows() == 20
    assert writer.commits == 3 and open_store(store.path).count_rows() == 25
    ops = [(v.operation, v.inserted) for v in open_store(store.path).versions()]
    assert ops == [("create", 0), ("insert", 10), ("insert", 10), ("insert", 5)]


def test_commits_every_t_seconds(store: LanceStore) -> None:
    clock = Clock()
    with StoreWriter(store, commit_rows=1_000, commit_seconds=5.0, clock=clock) as writer:
        writer.add(*_rows(0, 3))
        clock.now = 4.9
        writer.add(*_rows(3, 3))
        assert writer.commits == 0
        clock.now = 5.0
        writer.add(*_rows(6, 3))
        assert writer.commits == 1 and open_store(store.path).count_rows() == 9
    assert [v.operation for v in open_store(store.path).versions()] == ["create", "upsert"]


def test_rows_not_marked_new_are_upserted(store: LanceStore) -> None:
    with StoreWriter(store, commit_rows=100) as writer:
        writer.add(*_rows(0, 4), new=True)
    ids, hashes, vectors = _rows(2, 4)
    with StoreWriter(open_store(store.path), commit_rows=100) as writer:
        writer.add(ids, hashes, vectors * -1, new=False)
    assert (writer.inserted, writer.updated) == (2, 2)
    got = {i: v for b in open_store(store.path).iter_batches() for i, v in zip(b.ids, b.vectors, strict=True)}
    assert sorted(got) == [f"r{i}" for i in range(6)]
    np.testing.assert_array_equal(got["r3"], -vectors[1])


def test_a_keyboard_interrupt_keeps_the_buffered_rows(store: LanceStore) -> None:
    with pytest.raises(KeyboardInterrupt), StoreWriter(store, commit_rows=100) as writer:
        writer.add(*_rows(0, 7), new=True)
        raise KeyboardInterrupt
    assert open_store(store.path).count_rows() == 7


def test_texts_are_stored_when_the_store_has_them(store: LanceStore) -> None:
    ids, hashes, vectors = _rows(0, 2)
    with StoreWriter(store) as writer:
        writer.add(ids, hashes, vectors, ["first", "second"], new=True)
    (batch,) = list(open_store(store.path).iter_batches())
    assert dict(zip(batch.ids, batch.texts, strict=True)) == {"r0": "first", "r1": "second"}


def test_a_rebuild_by_another_process_after_opening_stops_the_writer(store: LanceStore) -> None:
    opened = open_store(store.path)
    create_store(store.path, {"model": "other"}, Precision.float32, 4, rebuild=True)
    with pytest.raises(StoreBusy, match="rebuilt this store"), StoreWriter(opened) as writer:
        writer.add(*_rows(0, 2), new=True)
    assert open_store(store.path).count_rows() == 0


def test_the_lock_file_survives_lance_cleanup_and_readers_ignore_it(store: LanceStore) -> None:
    from datetime import timedelta

    import lance

    for start in (0, 5):
        with StoreWriter(open_store(store.path)) as writer:
            writer.add(*_rows(start, 5), new=True)
    table = open_store(store.path).to_vector_table()
    assert table.ids == [f"r{i}" for i in range(10)] and table.provenance == Provenance(model="m")
    np.testing.assert_array_equal(table.vectors, _rows(0, 10)[2])
    lance.dataset(str(store.path)).cleanup_old_versions(older_than=timedelta(0))
    assert (store.path / "_embedcli.lock").exists() and open_store(store.path).count_rows() == 10
