"""Lance stores across processes: a writer killed with SIGKILL, resumed; concurrent writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lance")

from embedcli.formats.lance_store import open_store

REPO = Path(__file__).resolve().parents[2]

# One writer run: make or open the store, then bring it up to date with N records, embedding each text with a
# digest-seeded vector. After the first commit it prints COMMITTED; with --slow it then sleeps between batches so
# the test can kill it mid-run.
SCRIPT = textwrap.dedent(
    """
    import hashlib, sys, time
    import numpy as np
    from embedcli.embed.incremental import update_store
    from embedcli.formats.lance_store import create_store, is_store, open_store
    from embedcli.precision import Precision

    path, rows, slow, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "slow", float(sys.argv[4])
    settings = {"model": "tiny", "dimension": 8, "precision": "float16"}
    store = open_store(path) if is_store(path) else create_store(path, settings, Precision.float16, 8)
    calls = 0

    def embed(texts):
        global calls
        calls += 1
        if calls == 3:
            print("COMMITTED", flush=True)  # two batches of 50 are committed by now (commit_rows=100)
        if slow and calls >= 3:
            time.sleep(0.5)
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(8) for s in seeds]).astype(np.float16)

    items = ((f"id{i}", f"text {i}", f"in:{i}") for i in range(rows))
    summary = update_store(store, items, embed, embed_rows=50, commit_rows=100, lock_wait_seconds=wait)
    print("DONE", summary.new, summary.unchanged, summary.embedded, flush=True)
    """
)


def _writer(tmp_path: Path, store: Path, rows: int, slow: bool, wait: float = 0.0) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), str(store), str(rows), "slow" if slow else "fast", str(wait)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _contents(path: Path) -> dict[str, np.ndarray]:
    rows: dict[str, np.ndarray] = {}
    for batch in open_store(path).iter_batches():
        for row_id, vector in zip(batch.ids, batch.vectors, strict=True):
            assert row_id not in rows, f"duplicate id {row_id}"
            rows[row_id] = vector
    return rows


def test_a_killed_writer_leaves_its_last_commit_and_a_rerun_ends_equal(tmp_path: Path) -> None:
    killed = _writer(tmp_path, tmp_path / "kb.lance", 1_000, slow=True)
    assert killed.stdout is not None
    assert killed.stdout.readline().strip() == "COMMITTED"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    partial = _contents(tmp_path / "kb.lance")
    assert 100 <= len(partial) < 1_000 and len(partial) % 50 == 0  # whole batches only (a commit every 100 rows or 5 s)

    resumed = _writer(tmp_path, tmp_path / "kb.lance", 1_000, slow=False)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    new, unchanged, embedded = (int(x) for x in out.split()[-3:])
    assert (new, unchanged, embedded) == (1_000 - len(partial), len(partial), 1_000 - len(partial))

    whole = _writer(tmp_path, tmp_path / "whole.lance", 1_000, slow=False)
    assert whole.wait(timeout=60) == 0
    expected, got = _contents(tmp_path / "whole.lance"), _contents(tmp_path / "kb.lance")
    assert sorted(got) == sorted(expected)
    for row_id, vector in expected.items():
        np.testing.assert_array_equal(got[row_id], vector)


def test_a_second_writer_stops_with_a_clear_message(tmp_path: Path) -> None:
    first = _writer(tmp_path, tmp_path / "kb.lance", 1_000, slow=True)
    assert first.stdout is not None and first.stdout.readline().strip() == "COMMITTED"
    second = _writer(tmp_path, tmp_path / "kb.lance", 1_000, slow=False)
    _, err = second.communicate(timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert second.returncode == 1 and "StoreBusy" in err and "another process is writing this store" in err
    assert len(_contents(tmp_path / "kb.lance")) % 50 == 0


def test_concurrent_writers_that_wait_both_finish_without_duplicates(tmp_path: Path) -> None:
    store = tmp_path / "kb.lance"
    first = _writer(tmp_path, store, 400, slow=False)
    first.stdout.readline() if first.stdout else None  # the store exists once the first commit is made
    writers = [
        first,
        _writer(tmp_path, store, 600, slow=False, wait=60),
        _writer(tmp_path, store, 500, slow=False, wait=60),
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=90)
        assert writer.returncode == 0, err
    rows = _contents(store)
    assert sorted(rows) == sorted(f"id{i}" for i in range(600))


def test_lance_itself_keeps_ids_unique_under_concurrent_upserts(tmp_path: Path) -> None:
    """Without embedcli's lock (another tool writing): the id field is Lance's primary key, so concurrent
    upserts of the same new ids conflict and are retried by Lance instead of duplicating rows."""
    from embedcli.formats.lance_store import create_store
    from embedcli.precision import Precision

    store = create_store(tmp_path / "kb.lance", {}, Precision.float32, 4)
    script = tmp_path / "upsert.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import numpy as np
            from embedcli.formats.lance_store import open_store
            for start in range(0, 600, 60):
                ids = [f"k{i}" for i in range(start, start + 120)]  # overlaps the next batch and the other writer
                store = open_store(sys.argv[1])
                store.upsert(ids, ["h"] * len(ids), np.full((len(ids), 4), float(sys.argv[2]), np.float32))
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(store.path), str(n)], env=env, stderr=subprocess.PIPE)
        for n in (1, 2, 3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    ids = [i for batch in open_store(store.path).iter_hashes() for i in batch[0]]
    assert len(ids) == len(set(ids)) == 660
