"""Issue 17, items 6, 8, 10, 12 and 15 (parts): nothing a command reads is clobbered, `similar` never holds a copy
of the corpus, Ctrl-C wins over UMAP, corpus text cannot drive the terminal, and stderr speaks in clean lines."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli

from embedcli.cli.console import visible
from embedcli.metrics import Metric, brute_force, prepare
from embedcli.search.neighbours import Hit
from embedcli.search.top_k import CORPUS_BLOCK_BYTES, SearchCorpus, search

SEED = 1234
CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;pwned\x07"


def _vectors(path: Path, rows: int = 40, dim: int = 8, seed: int = SEED) -> Path:
    np.save(path, np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32))
    return path


def _one_line_refusal(proc: subprocess.CompletedProcess) -> str:
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("error: refusing to overwrite"), stderr
    return stderr


# --- item 6: -o never names a file the command reads -----------------------------------------------------------


def test_embed_refuses_output_onto_the_model_file(word2vec_bin: Path, tmp_path: Path) -> None:
    model = shutil.copy(word2vec_bin, tmp_path / "w2v.bin")
    before = Path(model).read_bytes()
    (tmp_path / "small.txt").write_text("the house\nmy dear\n", encoding="utf-8")
    proc = run_cli("embed", "small.txt", "-m", "w2v.bin", "-o", "w2v.bin", "-f", "jsonl", cwd=tmp_path)
    _one_line_refusal(proc)
    assert Path(model).read_bytes() == before


def test_embed_refuses_output_into_the_model_folder_path(tiny_st_dir: Path, tmp_path: Path) -> None:
    # The folder itself as -o: refused before anything is loaded, the folder untouched.
    listing = sorted(p.name for p in tiny_st_dir.iterdir())
    proc = run_cli("embed", "-t", "hello", "-m", str(tiny_st_dir), "-o", str(tiny_st_dir), "-f", "jsonl")
    _one_line_refusal(proc)
    assert tiny_st_dir.is_dir() and sorted(p.name for p in tiny_st_dir.iterdir()) == listing


def test_reduce_refuses_output_onto_the_reducer(tmp_path: Path) -> None:
    _vectors(tmp_path / "v.npy")
    run_cli("reduce", "v.npy", "--dim", "4", "--save-reducer", "pca4.npz", "-o", "r.parquet", cwd=tmp_path, check=True)
    before = (tmp_path / "pca4.npz").read_bytes()
    proc = run_cli("reduce", "v.npy", "--reducer", "pca4.npz", "-o", "pca4.npz", "-f", "parquet", cwd=tmp_path)
    _one_line_refusal(proc)
    assert (tmp_path / "pca4.npz").read_bytes() == before


@pytest.mark.parametrize("option", ["--queries", "--rescore"])
def test_similar_refuses_output_onto_what_it_reads(option: str, tmp_path: Path) -> None:
    _vectors(tmp_path / "corpus.npy")
    _vectors(tmp_path / "other.npy", seed=SEED + 1)
    before = (tmp_path / "other.npy").read_bytes()
    proc = run_cli("similar", "corpus.npy", option, "other.npy", "-o", "other.npy", "-f", "jsonl", cwd=tmp_path)
    _one_line_refusal(proc)
    assert (tmp_path / "other.npy").read_bytes() == before


# --- item 8: the corpus is read in bounded blocks whatever the number of queries ------------------------------------


class _RecordingCorpus(SearchCorpus):
    """A real SearchCorpus that also remembers the size of every block it hands out."""

    seen: list[int]

    def blocks(self, rows, first=None):  # type: ignore[no-untyped-def]
        self.seen = getattr(self, "seen", [])
        for start, block, aux in super().blocks(rows, first):
            self.seen.append(block.nbytes)
            yield start, block, aux


@pytest.mark.parametrize("metric", [Metric.cosine, Metric.euclidean, Metric.manhattan])
@pytest.mark.parametrize("queries", [1, 10])
def test_few_queries_read_the_corpus_in_bounded_blocks(metric: Metric, queries: int) -> None:
    rng = np.random.default_rng(SEED)
    corpus = rng.standard_normal((80_000, 64), dtype=np.float32)  # 20 MiB: more than one corpus block
    asked = rng.standard_normal((queries, 64), dtype=np.float32)
    searched = _RecordingCorpus(corpus, metric)
    prepared = prepare(metric, asked)
    hits = list(search(prepared, searched, 5))
    assert max(searched.seen) <= CORPUS_BLOCK_BYTES < corpus.nbytes
    oracle = brute_force(metric, prepared if metric is not Metric.cosine else asked, corpus)
    for hit in hits:
        expected = np.argsort(-oracle[hit.query], kind="stable")[:5]
        assert hit.rows.tolist() == expected.tolist()


# --- item 10: Ctrl-C during UMAP always wins ----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_ctrl_c_during_a_manifold_fit_exits_130_with_nothing_written(method: str, tmp_path: Path) -> None:
    pytest.importorskip("umap" if method == "umap" else "sklearn")
    _vectors(tmp_path / "v.npy", rows=3000, dim=32)
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedcli", "reduce", "v.npy", "--method", method, "-o", "out.parquet"],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, which gets the signal as a terminal's Ctrl-C would
    )
    # The fit has started when its child process exists (or, were the fit run in-process, after a while).
    deadline = time.monotonic() + 10
    while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    fitter = _children(proc.pid)
    time.sleep(1.0)  # well inside the fit (numba / OpenMP code)
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    assert time.monotonic() - sent < 5
    assert b"Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npy"]
    for pid in fitter:  # the fitting child is gone too, not left computing
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


# --- item 12: corpus text never drives the terminal ------------------------------------------------------------------


def test_visible_escapes_every_control_character() -> None:
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    shown = visible(f"a{controls}é€")
    assert shown.isprintable() and shown.startswith("a\\x00") and shown.endswith("\\x9fé€")
    assert visible(CLEAR) == "\\x1b[2J\\x1b[H" and visible("tab\there") == "tab\\there"


def test_table_shows_escape_sequences_visibly() -> None:
    from rich.console import Console

    from embedcli.cli.similar import _render

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    hits = [Hit(f"query{TITLE}", 1, f"id{CLEAR}", 0.5, f"text {CLEAR}{TITLE}\x9b31m end")]
    assert _render(hits, Metric.cosine, console) == 1
    shown = out.getvalue()
    for raw in (CLEAR, "\x1b]", "\x07", "\x9b"):
        assert raw not in shown
    assert "text \\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x9b31m end" in shown
    assert "query\\x1b]0;pwned\\x07" in shown and "id\\x1b[2J" in shown


def _hostile_corpus(tmp_path: Path) -> Path:
    rows = [
        {"id": f"evil{TITLE}", "text": f"clear {CLEAR} me", "embedding": [1.0, 0.0, 0.5]},
        {"id": "plain", "text": "plain text", "embedding": [0.9, 0.1, 0.4]},
        {"id": f"zero{CLEAR}", "text": "nothing", "embedding": [0.0, 0.0, 0.0]},  # named in a warning
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_error_lines_escape_user_data(tmp_path: Path) -> None:
    proc = run_cli("similar", f"no{CLEAR}such{TITLE}.npy", cwd=tmp_path)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "\x1b" not in stderr and "\x07" not in stderr
    assert "no\\x1b[2J\\x1b[Hsuch\\x1b]0;pwned\\x07.npy" in stderr


def test_warnings_escape_user_data_and_jsonl_stays_exact(tmp_path: Path) -> None:
    _hostile_corpus(tmp_path)
    proc = run_cli("similar", "corpus.jsonl", "-k", "1", "-o", "hits.jsonl", cwd=tmp_path, check=True)
    stderr = proc.stderr.decode()
    assert "\x1b" not in stderr and "zero\\x1b[2J\\x1b[H" in stderr
    hits = [json.loads(line) for line in (tmp_path / "hits.jsonl").read_text(encoding="utf-8").splitlines()]
    assert f"evil{TITLE}" in {h["query"] for h in hits}
    assert f"clear {CLEAR} me" in {h["text"] for h in hits}


def _through_pty(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, bytes]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; (exit status, everything the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedcli", *args],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks)


def test_similar_table_on_a_real_terminal_carries_no_escape_sequence_from_the_corpus(tmp_path: Path) -> None:
    _hostile_corpus(tmp_path)
    status, shown = _through_pty(["similar", "corpus.jsonl", "-k", "2"], tmp_path)
    assert status == 0, shown
    assert b"\x1b[2J" not in shown and b"\x1b]0;" not in shown and b"\x07" not in shown
    assert b"clear \\x1b[2J\\x1b[H me" in shown


# --- item 15 (parts): clean lines on stderr ---------------------------------------------------------------------


def test_numpy_warnings_are_one_clean_line(tmp_path: Path) -> None:
    vectors = np.ones((20, 8), np.float32)
    vectors[3] = 1e30  # q·c overflows float32
    np.save(tmp_path / "huge.npy", vectors)
    proc = run_cli("similar", "huge.npy", "--metric", "dot", "-k", "2", "-o", "hits.jsonl", "-q", cwd=tmp_path)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert "warning: overflow encountered in matmul" in stderr
    assert "RuntimeWarning" not in stderr and ".py:" not in stderr and "np.matmul" not in stderr


def test_reduce_of_overflowing_vectors_is_one_error_line(tmp_path: Path) -> None:
    vectors = np.ones((20, 8), np.float32)
    vectors[3] = 1e30
    np.save(tmp_path / "huge.npy", vectors)
    proc = run_cli("reduce", "huge.npy", "-o", "out.parquet", cwd=tmp_path)
    stderr = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith("error: the vectors are too large to reduce")
    assert not (tmp_path / "out.parquet").exists()


def test_out_of_vocabulary_word_query_says_so(word2vec_bin: Path) -> None:
    proc = run_cli("similar", str(word2vec_bin), "xyzzyq plughq", "-f", "jsonl")
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert "none of the words of this query is in the vocabulary: 'xyzzyq plughq'" in stderr
    assert "all-zero" not in stderr


@pytest.mark.slow  # torch and a model load behind a pseudo-terminal: ~20 s here
def test_progress_says_loading_model_before_the_first_batch(tiny_st_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("one text\nanother text\n", encoding="utf-8")
    status, shown = _through_pty(["embed", "small.txt", "-m", str(tiny_st_dir), "-o", "v.npy"], tmp_path)
    assert status == 0, shown
    assert b"loading model" in shown
    assert b" 0 items" not in shown
