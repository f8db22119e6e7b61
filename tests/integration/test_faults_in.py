"""Issue 17, the way in: cut Arrow streams, delimited input rules, long lines, silent coercions, one exit-code rule.

Each case runs the real process (`python -m embedcli`) where the behaviour lives at the process boundary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, run_cli

ENDED_EARLY = "the input stream ended early: did the command before this one fail?"
STS_TEST = SHARED_DATA / "stsbenchmark" / "sts-test.csv"
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _stderr(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def stream(word2vec_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real Arrow stream from `embed` (word vectors: fast), many record batches long."""
    folder = tmp_path_factory.mktemp("stream")
    lines = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig").splitlines()[:600]
    (folder / "book.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli("embed", str(folder / "book.txt"), "-m", str(word2vec_bin), "--batch-size", "8", "-f", "arrows")
    assert proc.returncode == 0, _stderr(proc)
    assert proc.stdout.endswith(EOS) and proc.stdout.count(b"\xff\xff\xff\xff") > 3  # schema, batches, end
    return proc.stdout


def _head_c(data: bytes, n: int, folder: Path, *command: str) -> subprocess.CompletedProcess:
    """`head -c n FILE | embedcli COMMAND`, a real pipe from the real tool."""
    whole = folder / "whole.arrows"
    whole.write_bytes(data)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    head = subprocess.Popen(["head", "-c", str(n), str(whole)], stdout=subprocess.PIPE)
    reader = subprocess.run(
        [sys.executable, "-m", "embedcli", *command], stdin=head.stdout, capture_output=True, env=env, timeout=120
    )
    head.wait()
    return reader


READERS = {
    "similar": ("similar", "-", "elizabeth", "-k", "2", "-f", "jsonl"),
    "reduce": ("reduce", "-", "--dim", "2", "-f", "jsonl"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("cut", ["marker", "batch", "middle"])
def test_cut_arrow_stream_is_an_error(stream: bytes, reader: str, cut: str, tmp_path: Path) -> None:
    # Without the end-of-stream marker (a cut between batches reads as a whole, shorter table) and mid-message.
    last_batch = stream.rfind(b"\xff\xff\xff\xff", 0, len(stream) - len(EOS))
    n = {"marker": len(stream) - len(EOS), "batch": last_batch, "middle": len(stream) // 2}[cut]
    proc = _head_c(stream, n, tmp_path, *READERS[reader])
    assert proc.returncode == 1, _stderr(proc)
    assert ENDED_EARLY in _stderr(proc) and "<stdin>" in _stderr(proc)
    assert proc.stdout == b""


@pytest.mark.parametrize("reader", sorted(READERS))
def test_whole_arrow_stream_still_reads(stream: bytes, reader: str, tmp_path: Path) -> None:
    proc = _head_c(stream, len(stream), tmp_path, *READERS[reader])
    assert proc.returncode == 0, _stderr(proc)
    assert proc.stdout


def test_cut_arrow_stream_file_is_an_error(stream: bytes, tmp_path: Path) -> None:
    cut = tmp_path / "cut.arrows"
    cut.write_bytes(stream[: len(stream) - len(EOS)])
    for command in (("similar", str(cut), "elizabeth"), ("reduce", str(cut), "--dim", "2", "-f", "jsonl")):
        proc = run_cli(*command)
        assert proc.returncode == 1 and f"{cut}: {ENDED_EARLY}" in _stderr(proc)


def test_embed_killed_mid_stream(word2vec_bin: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    text = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig")
    big.write_text(text * 4, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    embed = subprocess.Popen(
        [sys.executable, "-m", "embedcli", "embed", str(big), "-m", str(word2vec_bin), "--batch-size", "16", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert embed.stdout is not None
    first = embed.stdout.read(1)  # output has begun: the writer is mid-stream
    embed.send_signal(signal.SIGKILL)
    partial = first + embed.stdout.read()
    embed.wait()
    assert partial and not partial.endswith(EOS)
    proc = run_cli("similar", "-", "elizabeth", "-f", "jsonl", input=partial)
    assert proc.returncode == 1 and ENDED_EARLY in _stderr(proc)


# -- text inputs: the exit status and the summary, through the real process --------------------------------------------


def test_sts_test_through_embed(word2vec_bin: Path) -> None:
    proc = run_cli(
        "embed", str(STS_TEST), "--input-format", "tsv", "--no-header", "--quoting", "none",
        "--text-column", "6", "--id-column", "4", "-m", str(word2vec_bin), "-f", "jsonl",
    )  # fmt: skip
    assert proc.returncode == 0, _stderr(proc)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    lines = STS_TEST.read_text(encoding="utf-8").splitlines()
    assert [(r["id"], r["text"]) for r in rows] == [(line.split("\t")[3], line.split("\t")[5]) for line in lines]
    assert len(rows) == 1379


@pytest.mark.parametrize(
    ("body", "options", "message"),
    [
        (b"text\n" + b"word " * 100 + b"\n", ["--max-line-bytes", "200"], "{path}:2: line longer than 200 bytes"),
        (b'{"text": "a"}\n{"text": [1]}\n', ["--input-format", "jsonl"], "{path}:2: field 'text' holds a list"),
        (b"the sea\n\x00\x01 binary\n", [], "{path}: holds NUL bytes"),
        ("the sea\n".encode("utf-16-le"), [], "{path}: looks like UTF-16 without a byte-order mark"),
        (b"key,text\na,b,c\n", ["--input-format", "csv"], "{path}:2: 3 fields, expected 2 as in the header"),
    ],
    ids=["long-line", "jsonl-list", "nul", "utf16", "fields"],
)
def test_unusable_text_input_exits_1_and_writes_nothing(
    word2vec_bin: Path, tmp_path: Path, body: bytes, options: list[str], message: str
) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(body)
    out = tmp_path / "v.parquet"
    proc = run_cli("embed", str(path), *options, "-m", str(word2vec_bin), "-o", str(out))
    assert proc.returncode == 1, _stderr(proc)
    assert message.format(path=path) in _stderr(proc) and "Traceback" not in _stderr(proc)
    assert not out.exists()


def test_errors_replace_is_counted_in_the_summary(word2vec_bin: Path, tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait\nna\xefve\n".encode("latin-1") + "ok \ufffd kept\n".encode())
    proc = run_cli("embed", str(path), "-m", str(word2vec_bin), "-f", "jsonl", "--errors", "replace")
    assert proc.returncode == 0, _stderr(proc)
    assert "2 invalid byte sequences replaced with U+FFFD" in _stderr(proc)  # the U+FFFD in the file is not counted


# -- one exit-code rule for vector inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"", b"hello world" * 10, b"\x93NUMPY\x01\x00truncated", "shape"], ids=["empty", "junk", "cut", "1d"]
)
def test_unusable_npy_exits_1(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "v.npy"
    if content == "shape":
        np.save(path, np.zeros(5, np.float32))
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    good = tmp_path / "q.npy"
    np.save(good, np.ones((2, 5), np.float32))
    for command in (("similar", str(path), "-Q", str(good)), ("reduce", str(path), "--dim", "2", "-f", "jsonl")):
        proc = run_cli(*command)
        assert proc.returncode == 1, (command, proc.returncode, _stderr(proc))
        assert f"{path}" in _stderr(proc) and "Traceback" not in _stderr(proc)
    missing = run_cli("similar", str(tmp_path / "absent.npy"), "-Q", str(good))
    assert missing.returncode == 2 and "no such file" in _stderr(missing)


# -- the backends' cut before tokenizing -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sentence-transformers", "transformers"])
def test_backend_vector_of_a_long_line_is_that_of_its_head(tiny_st_dir: Path, tmp_path: Path, backend: str) -> None:
    # 2 MB on one line: cut before tokenizing (not tokenized whole), with the vector the model gives its head.
    text = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig").replace("\n", " ")
    path = tmp_path / "long.txt"
    path.write_text(text[:2_000_000] + "\n" + text[:3000] + "\n", encoding="utf-8")
    proc = run_cli("embed", str(path), "-m", str(tiny_st_dir), "-b", backend, "-f", "jsonl")
    assert proc.returncode == 0, _stderr(proc)
    first, second = (json.loads(line)["embedding"] for line in proc.stdout.splitlines())
    assert np.allclose(first, second, atol=1e-5)
    assert "2 texts truncated" in _stderr(proc)
