"""The one stdin spool (issues 10 and 17): vectors piped into `similar -` or `reduce -` in a format that must seek
are spooled to `$TMPDIR/embedcli-<pid>-<random>.part`; an interrupted run removes its spool, and the spool of a
killed run is removed by the next run."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedcli.errors import EXIT_INTERRUPTED

COMMANDS = {
    "similar": ["similar", "-", "-k", "2", "-f", "jsonl"],
    "reduce": ["reduce", "-", "--dim", "2", "-f", "jsonl"],
}


def npy_bytes(vectors: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    return buffer.getvalue()


def vectors(rows: int = 400, dim: int = 16) -> np.ndarray:
    return np.random.default_rng(7).standard_normal((rows, dim)).astype(np.float32)


def spools(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def start_half_fed(command: str, spool_dir: Path) -> subprocess.Popen[bytes]:
    """A run whose stdin got half an NPY file and stays open: it waits while spooling."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedcli", *COMMANDS[command]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(spool_dir), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.stdin is not None
    data = npy_bytes(vectors())
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not spools(spool_dir) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_spool_is_named_with_the_pid_and_removed_when_the_run_is_interrupted(tmp_path: Path, command: str) -> None:
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    proc = start_half_fed(command, spool_dir)
    found = spools(spool_dir)
    assert len(found) == 1 and re.fullmatch(rf"embedcli-{proc.pid}-\w+\.part", found[0]), found
    proc.send_signal(signal.SIGTERM)  # unwinds like Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err.decode()
    assert b"Traceback" not in err
    assert spools(spool_dir) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_killed_runs_spool_is_removed_by_the_next_run(tmp_path: Path, command: str) -> None:
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    proc = start_half_fed(command, spool_dir)
    proc.kill()
    proc.communicate(timeout=60)
    left = spools(spool_dir)
    assert len(left) == 1 and left[0].startswith(f"embedcli-{proc.pid}-"), left
    live = spool_dir / f"embedcli-{os.getpid()}-live.part"  # a spool of a process still alive (this one)
    live.write_bytes(b"")
    matrix = vectors()
    done = subprocess.run(
        [sys.executable, "-m", "embedcli", *COMMANDS[command]],
        input=npy_bytes(matrix),
        capture_output=True,
        env={**os.environ, "TMPDIR": str(spool_dir), "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert spools(spool_dir) == [live.name]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    if command == "reduce":
        assert len(rows) == len(matrix)
        return
    # Each row's neighbours (itself left out) by brute-force cosine over the whole matrix: the spool held every row.
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :2] + 1
    got = {}
    for row in rows:
        got.setdefault(row["query"], []).append(int(row["id"]))
    assert len(got) == len(matrix)
    assert [got[q] for q in sorted(got, key=lambda q: int(q))] == best.tolist()


def test_empty_stdin_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "embedcli", *COMMANDS["similar"]],
        input=b"",
        capture_output=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert done.returncode == 2
    assert b"no input on stdin" in done.stderr and b"Traceback" not in done.stderr
