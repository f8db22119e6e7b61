"""The way out under faults (issue 17): devices, FIFOs and symlinks are written, never replaced; OS write errors
are one line and leave nothing; spools and temporary files never outlive their run; a command's outputs appear
together or not at all; a --format that contradicts the name is refused; Ctrl-C says so."""

from __future__ import annotations

import os
import re
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

WORDS = "the man house sister time day young letter mother father room lady mind heart".split()  # noqa: SIM905


def _lines(n: int) -> str:
    return "".join(
        f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}\n" for i in range(n)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, word2vec_bin: Path) -> dict[str, Path]:
    """Small text, its vectors (Parquet) and a 3,000-row vector file, embedded with a small word2vec model."""
    folder = tmp_path_factory.mktemp("faults-out")
    docs = folder / "docs.txt"
    docs.write_text(_lines(40), encoding="utf-8")
    big_docs = folder / "big.txt"
    big_docs.write_text(_lines(3000), encoding="utf-8")
    vectors, big = folder / "v.parquet", folder / "big.parquet"
    run_cli("embed", str(docs), "--model", str(word2vec_bin), "-o", str(vectors), "-q", check=True)
    run_cli("embed", str(big_docs), "--model", str(word2vec_bin), "-o", str(big), "-q", check=True)
    return {"docs": docs, "vectors": vectors, "big": big, "model": word2vec_bin}


def _embed(corpus: dict[str, Path], *args: str, **kw) -> subprocess.CompletedProcess:
    return run_cli("embed", str(corpus["docs"]), "--model", str(corpus["model"]), "-q", *args, **kw)


def _no_traceback(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    return err


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# 1. devices, FIFOs and symlinks


def _mknull(path: Path) -> None:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "npy"])
def test_embed_into_a_device_writes_it_and_leaves_the_device(corpus, tmp_path, fmt):
    null = tmp_path / "mynull"
    _mknull(null)
    proc = _embed(corpus, "-o", str(null), "-f", fmt)
    assert proc.returncode == 0, _no_traceback(proc)
    assert stat.S_ISCHR(null.stat().st_mode)
    assert os.major(null.stat().st_rdev) == 1 and os.minor(null.stat().st_rdev) == 3
    assert _leftovers(tmp_path) == []


class _Reader(threading.Thread):
    """Reads a FIFO to its end, as the process on the other side of `mkfifo` would."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.data = path, b""

    def run(self) -> None:
        with open(self.path, "rb") as f:
            self.data = f.read()


def _through_fifo(tmp_path: Path, command) -> tuple[subprocess.CompletedProcess, bytes]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = _Reader(fifo)
    reader.start()
    proc = command(str(fifo))
    reader.join(timeout=60)
    assert not reader.is_alive(), "the FIFO's reader never saw the end"
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert _leftovers(tmp_path) == []
    return proc, reader.data


def test_embed_jsonl_into_a_fifo_streams_to_its_reader(corpus, tmp_path):
    proc, data = _through_fifo(tmp_path, lambda fifo: _embed(corpus, "-o", fifo, "-f", "jsonl"))
    assert proc.returncode == 0, _no_traceback(proc)
    assert len(data.splitlines()) == 40


def test_embed_parquet_into_a_fifo_gives_a_whole_parquet_file(corpus, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    proc, data = _through_fifo(tmp_path, lambda fifo: _embed(corpus, "-o", fifo, "-f", "parquet"))
    assert proc.returncode == 0, _no_traceback(proc)
    assert pq.read_table(pa.BufferReader(data)).num_rows == 40


def test_similar_and_reduce_into_a_fifo(corpus, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    proc, data = _through_fifo(
        tmp_path, lambda fifo: run_cli("similar", str(corpus["vectors"]), "sister", "-k", "3", "-o", fifo, "-fjsonl")
    )
    assert proc.returncode == 0, _no_traceback(proc)
    assert len(data.splitlines()) == 3
    os.unlink(tmp_path / "pipe")
    proc, data = _through_fifo(
        tmp_path, lambda fifo: run_cli("reduce", str(corpus["vectors"]), "--dim", "3", "-o", fifo, "-f", "parquet")
    )
    assert proc.returncode == 0, _no_traceback(proc)
    assert pq.read_table(pa.BufferReader(data)).num_rows == 40


def test_a_symlink_is_written_through_atomically(corpus, tmp_path):
    import pyarrow.parquet as pq

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (real_dir / "out.parquet").write_bytes(b"old")
    link = tmp_path / "link.parquet"
    link.symlink_to(real_dir / "out.parquet")
    assert _embed(corpus, "-o", str(link)).returncode == 0
    assert link.is_symlink()
    assert pq.read_table(real_dir / "out.parquet").num_rows == 40
    proc = run_cli("reduce", str(corpus["vectors"]), "--dim", "2", "-o", str(link), "-q")
    assert proc.returncode == 0, _no_traceback(proc)
    assert link.is_symlink() and pq.read_table(link).column("embedding").type.list_size == 2
    assert _leftovers(tmp_path) == [] and _leftovers(real_dir) == []


# 3. OS write errors


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize(("command", "fmt"), [("embed", "parquet"), ("embed", "jsonl"), ("reduce", "npy")])
def test_a_full_disk_is_one_line_and_leaves_nothing(corpus, tmp_path, command, fmt):
    out = tmp_path / f"out.{fmt}"
    if command == "embed":
        args = ["embed", str(corpus["big"].with_suffix(".txt")), "--model", str(corpus["model"])]
    else:
        args = ["reduce", str(corpus["big"]), "--dim", "20"]
    proc = subprocess.run(
        [sys.executable, "-m", "embedcli", *args, "-q", "-o", str(out)],
        capture_output=True,
        preexec_fn=_limit_file_size(4096),
        timeout=120,
    )
    err = _no_traceback(proc)
    assert proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(out) in lines[0] and "File too large" in lines[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_one_line(corpus, read_only_dir):
    out = read_only_dir / "v.parquet"
    proc = _embed(corpus, "-o", str(out))
    err = _no_traceback(proc)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [f"error: cannot write '{out}': Read-only file system"]


def test_a_read_only_onnx_cache_is_one_line(tiny_st_dir, read_only_dir):
    proc = run_cli(
        "embed",
        "-t",
        "x",
        "-b",
        "onnx",
        "-m",
        str(tiny_st_dir),
        "-f",
        "jsonl",
        env={"EMBEDCLI_CACHE": str(read_only_dir)},
    )
    err = _no_traceback(proc)
    assert proc.returncode == 1, err
    assert "cannot write the export cache" in err and "Read-only file system" in err


# 5. similar -f csv into a pipe


def test_similar_csv_to_stdout(corpus):
    proc = run_cli("similar", str(corpus["vectors"]), "sister", "-k", "2", "-f", "csv")
    assert proc.returncode == 0, _no_traceback(proc)
    rows = proc.stdout.decode().splitlines()
    assert rows[0] == "query,rank,id,score,text" and len(rows) == 3


# 7. | head leaves no spool


@pytest.mark.parametrize("fmt", ["npy", "parquet", "arrow"])
def test_head_on_a_spooled_format_leaves_no_spool(corpus, tmp_path, fmt):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    proc = subprocess.run(
        f"{sys.executable} -m embedcli reduce {corpus['big']} --dim 20 -q -f {fmt} | head -c 10 > /dev/null",
        shell=True,
        capture_output=True,
        env={**os.environ, "TMPDIR": str(spool_dir)},
        timeout=120,
    )
    _no_traceback(proc)
    assert list(spool_dir.iterdir()) == []


# 11. leftovers of a killed run


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_killed_runs_part_file_is_removed_by_the_next_run(corpus, tmp_path):
    out = tmp_path / "v.jsonl"
    args = [sys.executable, "-m", "embedcli", "embed", "-", "--model", str(corpus["model"]), "-q", "-o", str(out)]
    proc = subprocess.Popen([*args, "--batch-size", "16"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(_lines(2000).encode())  # more than a batch, and stdin stays open: the run waits mid-write
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    parts = _leftovers(tmp_path)
    assert len(parts) == 1 and re.fullmatch(rf"\.v\.jsonl\.embedcli-{proc.pid}-\w+\.part", parts[0]), parts
    # Another process's file, still alive (this test's), is never touched.
    mine = tmp_path / f".other.embedcli-{os.getpid()}-abc.part"
    mine.write_bytes(b"")
    done = _embed(corpus, "-o", str(out))
    assert done.returncode == 0, _no_traceback(done)
    assert _leftovers(tmp_path) == [mine.name]
    assert out.exists()


def test_models_clear_removes_a_dead_runs_staging_folder(tmp_path):
    exports = tmp_path / "cache" / "onnx"
    dead = exports / f".abc.embedcli-{_dead_pid()}-x1.tmp"
    live = exports / f".abc.embedcli-{os.getpid()}-x2.tmp"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"x" * 100)
    proc = run_cli("models", "--clear", env={"EMBEDCLI_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, _no_traceback(proc)
    assert not dead.exists() and live.exists()


# 13. outputs together or not at all


def test_a_failed_plot_leaves_no_vectors(corpus, tmp_path):
    out, reducer = tmp_path / "v2.parquet", tmp_path / "pca.npz"
    (tmp_path / "map.png").mkdir()  # the plot cannot be written: it names a folder
    proc = run_cli(
        "reduce",
        str(corpus["vectors"]),
        "--dim",
        "2",
        "-o",
        str(out),
        "--save-reducer",
        str(reducer),
        "--plot",
        str(tmp_path / "map.png"),
    )
    assert proc.returncode != 0
    _no_traceback(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]


# 14. a --format that contradicts the name


def test_a_format_that_contradicts_the_suffix_is_refused(corpus, tmp_path):
    out = tmp_path / "x.parquet"
    proc = _embed(corpus, "-o", str(out), "-f", "jsonl")
    err = _no_traceback(proc)
    assert proc.returncode == 2
    assert err.splitlines()[0] == f"error: --format jsonl contradicts the name '{out}', which says parquet"
    assert not out.exists()


# 15. Ctrl-C says so


def test_ctrl_c_prints_interrupted(corpus, tmp_path):
    out = tmp_path / "v.jsonl"
    args = [sys.executable, "-m", "embedcli", "embed", "-", "--model", str(corpus["model"]), "-q", "-o", str(out)]
    proc = subprocess.Popen([*args, "--batch-size", "16"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(_lines(2000).encode())  # more than a batch, and stdin stays open: the run waits mid-write
    proc.stdin.flush()
    deadline = time.monotonic() + 120
    while not _leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "interrupted"
    assert list(tmp_path.iterdir()) == []
