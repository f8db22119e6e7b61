"""The Lance store with real pylance: create, upsert, delete, versions, precisions, other readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lance")

from embedcli.errors import InputError, UsageError
from embedcli.formats.lance_store import (
    EMBEDDING,
    HASH,
    ID,
    METADATA_KEY,
    LanceStore,
    StoreBusy,
    create_store,
    open_store,
    store_lock,
)
from embedcli.precision import Precision, quantize

PROVENANCE = {"model": "tiny", "backend": "sentence-transformers", "dimension": 8, "precision": "float32"}


def _rows(n: int, start: int = 0, seed: int = 0, dim: int = 8) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    ids = [f"doc{i}" for i in range(start, start + n)]
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return ids, [f"h{i}-{seed}" for i in range(start, start + n)], vectors, [f"text {i}" for i in ids]


def _read_all(store: LanceStore) -> dict[str, tuple[np.ndarray, str]]:
    out = {}
    for batch in store.iter_batches(batch_rows=7):
        for i, row_id in enumerate(batch.ids):
            assert row_id not in out
            out[row_id] = (batch.vectors[i].copy(), batch.texts[i])
    return out


@pytest.fixture
def store(tmp_path: Path) -> LanceStore:
    return create_store(tmp_path / "kb.lance", PROVENANCE, Precision.float32, 8)


def test_create_upsert_read_back(store: LanceStore) -> None:
    ids, hashes, vectors, texts = _rows(20)
    assert store.upsert(ids, hashes, vectors, texts) == (20, 0)
    reopened = open_store(store.path)
    assert reopened.provenance == PROVENANCE
    assert reopened.count_rows() == 20 and reopened.width == 8 and reopened.value_dtype == np.float32
    rows = _read_all(reopened)
    for i, row_id in enumerate(ids):
        np.testing.assert_array_equal(rows[row_id][0], vectors[i])
        assert rows[row_id][1] == texts[i]
    stored = dict(pair for ids_, hs in reopened.iter_hashes(batch_rows=6) for pair in zip(ids_, hs, strict=True))
    assert stored == dict(zip(ids, hashes, strict=True))


def test_upsert_updates_in_place_and_delete(store: LanceStore) -> None:
    ids, hashes, vectors, texts = _rows(10)
    store.upsert(ids, hashes, vectors, texts)
    new_ids, new_hashes, new_vectors, new_texts = _rows(2, start=9, seed=1)  # doc9 changes, doc10 is new
    assert store.upsert(new_ids, new_hashes, new_vectors, new_texts) == (1, 1)
    assert store.delete(["doc0", "no-such-id", "it's"]) == 1
    rows = _read_all(store)
    assert sorted(rows) == sorted([f"doc{i}" for i in range(1, 11)])
    np.testing.assert_array_equal(rows["doc9"][0], new_vectors[0])
    np.testing.assert_array_equal(rows["doc3"][0], vectors[3])
    assert store.delete([]) == 0
    changes = [(v.number, v.operation, v.rows, v.inserted, v.updated, v.deleted) for v in store.versions()]
    assert changes == [
        (1, "create", 0, 0, None, None),
        (2, "upsert", 10, 10, 0, None),
        (3, "upsert", 11, 1, 1, None),
        (4, "delete", 10, None, None, 1),
    ]


def test_an_older_version_opens(store: LanceStore) -> None:
    ids, hashes, vectors, texts = _rows(5)
    store.upsert(ids, hashes, vectors, texts)
    store.upsert(ids[:1], ["other"], vectors[:1] * 2, texts[:1])
    store.delete(ids[1:3])
    old = open_store(store.path, version=2)
    assert old.version == 2 and store.latest_version == 4 and old.count_rows() == 5
    np.testing.assert_array_equal(_read_all(old)["doc0"][0], vectors[0])
    np.testing.assert_array_equal(_read_all(store.checkout(3))["doc0"][0], vectors[0] * 2)
    with pytest.raises(InputError, match="version 99"):
        open_store(store.path, version=99)


@pytest.mark.parametrize("precision", [Precision.float16, Precision.int8, Precision.uint8, Precision.ubinary])
def test_every_precision_round_trips(tmp_path: Path, precision: Precision) -> None:
    raw = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)
    ranges = np.vstack([raw.min(0), raw.max(0)])
    values = quantize(raw, precision, ranges)
    store = create_store(tmp_path / "p.lance", {"precision": precision.value}, precision, 16, with_text=False)
    store.upsert([str(i) for i in range(6)], ["h"] * 6, values)
    assert store.width == precision.width(16) and store.value_dtype == values.dtype and not store.has_text
    (batch,) = list(open_store(store.path).iter_batches())
    assert batch.texts == []
    np.testing.assert_array_equal(batch.vectors[np.argsort(np.array(batch.ids, dtype=int))], values)


def test_wrong_shapes_and_places_are_refused(store: LanceStore, tmp_path: Path) -> None:
    ids, hashes, vectors, texts = _rows(3)
    with pytest.raises(ValueError, match="shape"):
        store.upsert(ids, hashes, vectors[:, :4], texts)
    with pytest.raises(ValueError, match="do not fit"):
        store.upsert(ids, hashes, vectors.astype(np.complex64), texts)
    with pytest.raises(UsageError, match="already a Lance store"):
        create_store(store.path, PROVENANCE, Precision.float32, 8)
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a Lance store"):
        open_store(tmp_path / "plain")


def test_rebuild_keeps_old_versions(store: LanceStore) -> None:
    store.upsert(*_rows(4))
    rebuilt = create_store(store.path, {**PROVENANCE, "model": "other"}, Precision.float16, 4, rebuild=True)
    assert rebuilt.count_rows() == 0 and rebuilt.provenance["model"] == "other" and rebuilt.width == 4
    assert open_store(store.path, version=2).provenance == PROVENANCE
    assert [v.operation for v in rebuilt.versions()] == ["create", "upsert", "rebuild"]


def test_the_lock_stops_a_second_writer(store: LanceStore) -> None:
    with (
        store_lock(store.path),
        pytest.raises(StoreBusy, match="another process is writing"),
        store_lock(store.path, wait_seconds=0.2),
    ):
        pass
    with store_lock(store.path):  # released on leaving the block
        pass


def test_reading_hashes_projects_away_the_vectors(store: LanceStore) -> None:
    store.upsert(*_rows(50, dim=8))
    scanner = store.hash_scanner()
    assert scanner.projected_schema.names == [ID, HASH]
    assert EMBEDDING not in scanner.explain_plan()  # the read node's projection names only id and content_hash
    assert f"projection=[{ID}, {HASH}]" in scanner.explain_plan()


def test_missing_pylance_is_a_usage_error_with_the_hint(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['lance'] = None\n"
        "from embedcli.formats.lance_store import open_store\n"
        "from embedcli.errors import UsageError\n"
        "try:\n    open_store('x.lance')\nexcept UsageError as e:\n    print(e.message, '|', e.hint)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "pylance" in done.stdout and "pip install 'embedcli[store]'" in done.stdout


def _written(tmp_path: Path) -> tuple[Path, list[str], np.ndarray]:
    store = create_store(tmp_path / "kb.lance", PROVENANCE, Precision.float32, 8)
    ids, hashes, vectors, texts = _rows(30)
    store.upsert(ids, hashes, vectors, texts)
    store.delete(["doc0"])
    return store.path, ids[1:], vectors[1:]


def test_pyarrow_reads_the_store(tmp_path: Path) -> None:
    import lance

    path, ids, vectors = _written(tmp_path)
    table = lance.dataset(str(path)).to_table()  # a pyarrow.Table
    assert json.loads(table.schema.metadata[METADATA_KEY]) == PROVENANCE
    order = np.argsort(table.column(ID).to_pylist())
    got = np.stack(table.column(EMBEDDING).to_numpy(zero_copy_only=False))[order]
    np.testing.assert_array_equal(got, vectors[np.argsort(ids)])
    # Lance datasets are pyarrow datasets too: a scanner with a filter, as other pyarrow code would use it.
    import pyarrow.dataset as ds

    scanned = lance.dataset(str(path)).scanner(columns=[ID], filter=ds.field(ID) == "doc5").to_table()
    assert scanned.column(ID).to_pylist() == ["doc5"]


def test_duckdb_reads_the_store(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    import lance

    path, ids, _ = _written(tmp_path)
    dataset = lance.dataset(str(path))  # noqa: F841 - DuckDB scans the Python variable by name
    ((count, first),) = duckdb.sql("SELECT count(*), min(id) FROM dataset").fetchall()
    assert (count, first) == (len(ids), min(ids))


def test_polars_reads_the_store(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    import lance

    path, ids, vectors = _written(tmp_path)
    frame = pl.scan_pyarrow_dataset(lance.dataset(str(path))).select(ID, EMBEDDING).collect()
    got = dict(zip(frame[ID].to_list(), frame[EMBEDDING].to_list(), strict=True))
    np.testing.assert_allclose(np.array(got["doc7"], dtype=np.float32), vectors[ids.index("doc7")])


def test_the_provenance_can_be_completed_after_the_first_batch(store: LanceStore) -> None:
    store.upsert(*_rows(3))
    store.update_provenance({**PROVENANCE, "quantization_ranges": [[0.0], [1.0]]})
    assert open_store(store.path).provenance["quantization_ranges"] == [[0.0], [1.0]]
    assert open_store(store.path, version=2).provenance == PROVENANCE and open_store(store.path).count_rows() == 3
    assert [v.operation for v in store.versions()] == ["create", "upsert", "provenance"]
