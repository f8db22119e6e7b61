"""The CLI on inputs people really have: compressed files and streams, JSON arrays and nested fields, JSON lines on
stdin, folders of documents, --max-length past the model's limit, completions and plain output."""

from __future__ import annotations

import lzma
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import run_cli

LINES = ["the cat sat on the mat", "a dog barked at night", "rain fell on the town"]


def model(tiny_st_dir: Path) -> list[str]:
    return ["--model", str(tiny_st_dir), "-q"]


def embed_table(tmp_path: Path, tiny_st_dir: Path, *args: str, input: bytes | None = None):
    out = tmp_path / "v.parquet"
    run_cli("embed", *args, *model(tiny_st_dir), "-o", str(out), input=input, check=True, timeout=120)
    return pq.read_table(out).to_pydict()


def test_embed_zst_file_and_xz_stdin_equal_the_plain_text(tmp_path, tiny_st_dir):
    raw = ("\n".join(LINES) + "\n").encode()
    (tmp_path / "corpus.txt").write_bytes(raw)
    (tmp_path / "corpus.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    plain = embed_table(tmp_path, tiny_st_dir, str(tmp_path / "corpus.txt"))
    zst = embed_table(tmp_path, tiny_st_dir, str(tmp_path / "corpus.txt.zst"))
    piped = embed_table(tmp_path, tiny_st_dir, "-", input=lzma.compress(raw))
    assert zst["id"] == plain["id"] == piped["id"] == ["1", "2", "3"]
    assert zst["embedding"] == plain["embedding"] == piped["embedding"]


def test_truncated_bz2_is_one_clear_line_without_an_encoding_hint(tmp_path, tiny_st_dir):
    import bz2

    data = bz2.compress("".join(f"line {i}\n" for i in range(50000)).encode())
    (tmp_path / "c.txt.bz2").write_bytes(data[: len(data) // 2])
    done = run_cli("embed", str(tmp_path / "c.txt.bz2"), *model(tiny_st_dir), "-o", str(tmp_path / "v.parquet"))
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "truncated bz2" in err and "latin-1" not in err and "Traceback" not in err


@pytest.mark.parametrize("backend", ["sentence-transformers", "transformers", "onnx"])
def test_max_length_past_the_model_limit_is_one_clear_line(tmp_path, tiny_st_dir, backend):
    # The tiny model reads at most 32 tokens: its tokenizer says so (its position table holds 64).
    args = ["embed", "-t", "hello", "--backend", backend, "--max-length", "100", *model(tiny_st_dir)]
    done = run_cli(*args, "-o", str(tmp_path / "v.parquet"), timeout=120)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "--max-length 100 is past the limit" in err and "at most 32 tokens" in err
    assert "Traceback" not in err and not (tmp_path / "v.parquet").exists()


def test_max_length_within_the_position_table_is_honoured(tmp_path, tiny_st_dir):
    table = embed_table(tmp_path, tiny_st_dir, "-t", "hello there", "--max-length", "32")
    assert len(table["embedding"]) == 1


def test_json_array_nested_fields_stdin_json_lines_and_a_vector_file_as_queries(tmp_path, tiny_st_dir):
    import json

    rows = [{"meta": {"id": f"d{i}", "body": text}} for i, text in enumerate(LINES)]
    (tmp_path / "export.json").write_text(json.dumps(rows, indent=1))
    corpus = tmp_path / "corpus.parquet"
    args = ["--text-field", "meta.body", "--id-field", "meta.id", *model(tiny_st_dir)]
    run_cli("embed", str(tmp_path / "export.json"), *args, "-o", str(corpus), check=True, timeout=120)
    assert pq.read_table(corpus).column("id").to_pylist() == ["d0", "d1", "d2"]

    lines = "".join(json.dumps({"id": f"q{i}", "body": t}) + "\n" for i, t in enumerate(reversed(LINES)))
    queries = tmp_path / "queries.parquet"
    stdin_args = ["--id-field", "id", "--text-field", "body", *model(tiny_st_dir), "-o", str(queries)]
    run_cli("embed", *stdin_args, input=lines, check=True, timeout=120)
    assert pq.read_table(queries).column("id").to_pylist() == ["q0", "q1", "q2"]

    done = run_cli("similar", str(corpus), str(queries), "-k", "1", check=True, timeout=120)
    assert "read as --queries" in done.stderr.decode() and str(queries) in done.stderr.decode()
    hits = [json.loads(line) for line in done.stdout.decode().splitlines()]
    # Each query is a corpus text: it finds its own document (the query is shown by its kept text).
    assert [(h["query"], h["id"]) for h in hits] == [(LINES[2], "d2"), (LINES[1], "d1"), (LINES[0], "d0")]


def test_plain_text_on_stdin_with_an_id_field_is_refused(tmp_path, tiny_st_dir):
    done = run_cli("embed", "--id-field", "id", *model(tiny_st_dir), "-o", str(tmp_path / "v.parquet"), input="a\n")
    err = done.stderr.decode()
    assert done.returncode == 2 and "--id-field applies to JSON input" in err, err


def test_a_folder_of_documents_gives_one_vector_per_file(tmp_path, tiny_st_dir):
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "a.md").write_text("# Cats\n\nThe cat *sat* on the mat.\n")
    (notes / "sub" / "b.html").write_text("<html><head><title>x</title></head><body><p>A dog barked</p></body></html>")
    (notes / "c.txt").write_text("rain fell on the town\n")
    (notes / "pic.bin").write_bytes(bytes(range(256)))
    out = tmp_path / "notes.parquet"
    done = run_cli("embed", str(notes), "--model", str(tiny_st_dir), "-o", str(out), check=True, timeout=120)
    assert "1 other file in folders left out" in done.stderr.decode()
    table = pq.read_table(out).to_pydict()
    assert table["id"] == ["a.md", "c.txt", "sub/b.html"]
    # Each row is the vector of the file's visible text, embedded as a literal text.
    texts = embed_table(tmp_path, tiny_st_dir, "-t", "Cats\nThe cat sat on the mat.", "-t", "A dog barked")
    assert table["embedding"][0] == texts["embedding"][0] and table["embedding"][2] == texts["embedding"][1]

    globbed = embed_table(tmp_path, tiny_st_dir, str(notes), "--glob", "**/*.html")
    assert globbed["id"] == ["sub/b.html"]


def test_the_zsh_completion_file_starts_with_its_compdef_line():
    from conftest import REPO

    from embedcli.cli.completions import completion_script

    assert (REPO / "completions" / "_embedcli").read_text(encoding="utf-8").splitlines()[0] == "#compdef embedcli"
    assert completion_script("zsh").startswith("#compdef embedcli\n")


@pytest.mark.parametrize(("flag", "env"), [((), {}), (("--no-color",), {}), ((), {"NO_COLOR": "1"})])
def test_no_color_and_NO_COLOR_give_plain_output_with_no_bold(tmp_path, flag, env):
    # FORCE_COLOR makes rich style stderr although it is a pipe here, as on a terminal.
    done = run_cli(*flag, "embed", str(tmp_path / "missing.txt"), env={"FORCE_COLOR": "1", **env})
    err = done.stderr.decode()
    assert done.returncode == 2 and "error:" in err and "no such file" in err
    assert ("\x1b[" in err) == (not flag and not env), err


def test_keep_columns_on_a_folder_of_documents_is_refused_not_left_null(tmp_path, tiny_st_dir):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Alpha\n\nsome text\n")
    out = tmp_path / "v.parquet"
    proc = run_cli("embed", str(notes), "--keep-columns", "genre", "-m", str(tiny_st_dir), "-o", str(out))
    assert proc.returncode == 2 and not out.exists()
    assert "--keep-columns genre: the documents of the folder" in proc.stderr.decode()
