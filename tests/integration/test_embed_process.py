"""`embed` as a real process: pipes, `| head`, terminals, signals, and errors as one line with an exit status."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest
from conftest import run_cli

EMBEDCLI = [sys.executable, "-m", "embedcli"]


def test_cat_embed_pipe_gives_an_arrow_stream(tiny_st_dir, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("alpha\nbeta\n\ngamma\n")
    cmd = f"cat {docs} | {sys.executable} -m embedcli embed --model {tiny_st_dir} > {tmp_path}/v.arrows"
    done = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "v.arrows", "rb") as f:
        table = pa.ipc.open_stream(f).read_all()
    assert table.column("id").to_pylist() == ["1", "2", "4"]
    assert "1 blank line skipped" in done.stderr


def test_head_closing_the_pipe_ends_quietly(tiny_st_dir, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"sentence number {i}\n" for i in range(3000)))
    cmd = (
        f"set -o pipefail; cat {docs} | {sys.executable} -m embedcli embed - --format jsonl --model {tiny_st_dir}"
        f" --batch-size 8 | head -n 2"
    )
    done = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert len(done.stdout.splitlines()) == 2
    assert done.returncode == 141
    assert done.stderr == "", done.stderr


def _run_with_tty(args: list[str], tty_stdin: bool, tty_stdout: bool) -> tuple[int, str]:
    master, slave = pty.openpty()
    done = subprocess.run(
        EMBEDCLI + args,
        stdin=slave if tty_stdin else subprocess.DEVNULL,
        stdout=slave if tty_stdout else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    os.close(slave)
    os.close(master)
    return done.returncode, done.stderr.decode()


def test_no_input_on_a_terminal_is_a_usage_error_not_a_hang():
    code, err = _run_with_tty(["embed"], tty_stdin=True, tty_stdout=False)
    assert code == 2 and "no input" in err and "Traceback" not in err


def test_binary_output_to_a_terminal_is_refused(tmp_path):
    code, err = _run_with_tty(["embed", "-t", "x", "--format", "npy"], tty_stdin=False, tty_stdout=True)
    assert code == 2 and "refusing to write npy data to a terminal" in err and "-o FILE" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["embed", "missing.txt"], 2, "no such file: missing.txt"),
        (
            ["embed", "-t", "x", "--backend", "nope"],
            2,
            "unknown backend 'nope'; choose one of: auto, sentence-transformers",
        ),
        (["embed", "-t", "x", "-o", "out.weird"], 2, "cannot tell the output format of 'out.weird'"),
        (
            ["embed", "-t", "x", "--model", "no-such-org/no-such-model"],
            1,
            "cannot load model 'no-such-org/no-such-model'",
        ),
        (["embed", "-t", "x", "--encoding", "klingon"], 2, "unknown encoding 'klingon'"),
        (["embed", "-t", "x", "--model", "./nope"], 2, "no such model file or folder: ./nope"),
        (["embed", "blank.txt"], 1, "no text to embed (2 blank lines skipped)"),
        (["embed", "latin1.txt"], 1, "latin1.txt:2: not valid utf-8"),
        (["embed", "-t", "x", "--model", "notvectors.bin"], 1, "not a word-vector file"),
        (["embed", "latin1.txt", "-o", "latin1.txt", "--format", "jsonl"], 2, "refusing to overwrite the input file"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, args, code, message):
    (tmp_path / "blank.txt").write_text("\n  \n")
    (tmp_path / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    (tmp_path / "notvectors.bin").write_bytes(b"\x00\x01garbage\xff" * 10)
    done = run_cli(*args, cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2
    assert done.stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "latin1.txt", "notvectors.bin"]


def test_errors_replace_embeds_the_latin1_file(tmp_path, tiny_st_dir):
    (tmp_path / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    run_cli(
        "embed",
        "latin1.txt",
        "--errors",
        "replace",
        "--model",
        str(tiny_st_dir),
        "-o",
        "v.npy",
        cwd=tmp_path,
        check=True,
    )
    run_cli(
        "embed",
        "latin1.txt",
        "--encoding",
        "latin-1",
        "--model",
        str(tiny_st_dir),
        "-o",
        "w.npy",
        cwd=tmp_path,
        check=True,
    )
    assert np.load(tmp_path / "v.npy").shape == np.load(tmp_path / "w.npy").shape == (2, 32)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_exits_130_and_leaves_no_partial_output(tiny_st_dir, tmp_path, sig):
    proc = subprocess.Popen(
        [*EMBEDCLI, "embed", "-", "--model", str(tiny_st_dir), "-o", "out.parquet", "-q"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.stdin is not None
    # More than one window of lines, so a first batch is written; then stdin stays open and the reader waits.
    proc.stdin.write(b"".join(b"line %d\n" % i for i in range(1500)))
    proc.stdin.flush()
    deadline = time.time() + 120
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None, "no partial output appeared"
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["parquet", "npy", "arrows"])
def test_binary_formats_into_a_pipe_whole_or_quietly_cut(tiny_st_dir, tmp_path, fmt):
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"sentence number {i}\n" for i in range(2000)))
    base = f"{sys.executable} -m embedcli embed {docs} --model {tiny_st_dir} -q --format {fmt}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    whole = subprocess.run(["bash", "-c", f"{base} | cat > {tmp_path}/out.{fmt}"], env=env, capture_output=True)
    assert whole.returncode == 0, whole.stderr
    from embedcli.formats.vector_files import read_vector_table

    assert read_vector_table(str(tmp_path / f"out.{fmt}")).vectors.shape == (2000, 32)
    cut = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {base} | head -c 100 > /dev/null"], env=env, capture_output=True
    )
    assert cut.returncode == 141 and cut.stderr == b""
