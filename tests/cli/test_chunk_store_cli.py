"""`embed --chunk` into a `.lance` store: the chunking is one of the store's settings (a re-run with another is
refused, naming both), each chunk keeps `doc_id`/`chunk`/`start`/`end`, and `similar kb.lance` names document and
span as a Parquet chunk file does. Real subprocess runs of the CLI, checked against the document's text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from embedcli.formats.lance_store import open_store
from embedcli.formats.vector_files import read_vector_table

# Plain words: the tiny model's tokenizer splits them alike whatever the spacing between them.
SENTENCES = [
    "The rain fell on the quiet town all night.",
    "A small dog waited by the door for its owner.",
    "Bread and milk were sold at the corner shop.",
    "The river rose slowly under the old stone bridge.",
    "Children played in the park until the bell rang.",
    "A letter arrived for the doctor on Monday morning.",
]


def document(first_gap: str = " ") -> str:
    """Six paragraphs of two sentences; `first_gap` is the space after the first word."""
    text = "\n\n".join(" ".join(SENTENCES[i : i + 2]) + " " + SENTENCES[(i + 3) % 6] for i in range(6)) + "\n"
    return text.replace("The rain", f"The{first_gap}rain", 1)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def embed(folder: Path, model: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("embed", "doc.txt", "--model", str(model), *args, cwd=folder)


def check_spans(store: Path, text: str) -> dict:
    """Every stored chunk is `text[start:end]` of its document, numbered from 1 in order; returns the table."""
    table = read_vector_table(str(store))
    assert table.texts is not None
    spans = (table.columns[name] for name in ("doc_id", "chunk", "start", "end"))
    rows = sorted(zip(table.ids, table.texts, *spans, strict=True))
    assert len(rows) > 3
    for row_id, chunk_text, doc_id, number, start, end in rows:
        assert (row_id, doc_id) == (f"doc.txt#{number}", "doc.txt")
        assert chunk_text == text[start:end]
    assert sorted(number for *_, number, _, _ in rows) == list(range(1, len(rows) + 1))
    return {"table": table, "rows": rows}


@pytest.mark.slow
def test_a_chunk_store_keeps_spans_and_similar_names_them(tmp_path, tiny_st_dir):
    text = document()
    (tmp_path / "doc.txt").write_text(text, encoding="utf-8")
    ok(embed(tmp_path, tiny_st_dir, "--chunk", "16", "--overlap", "4", "-o", "kb.lance"))
    stored = check_spans(tmp_path / "kb.lance", text)
    assert stored["table"].provenance.extra["chunking"] == {"chunk": 16, "overlap": 4}
    assert open_store(tmp_path / "kb.lance").columns == ["doc_id", "chunk", "start", "end"]
    info = run_cli("info", "kb.lance", cwd=tmp_path).stdout.decode()
    assert "columns: id, text, content_hash, embedding, doc_id, chunk, start, end" in info

    done = run_cli("similar", "kb.lance", "a dog by the door", "-k", "3", "-f", "jsonl", cwd=tmp_path)
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and len(hits) == 3
    for hit in hits:
        assert list(hit) == ["query", "rank", "id", "score", "doc_id", "start", "end", "text"]
        assert hit["doc_id"] == "doc.txt" and hit["text"] == text[hit["start"] : hit["end"]]
    table = run_cli("similar", "kb.lance", "a dog", "-k", "1", "-f", "table", cwd=tmp_path).stdout.decode()
    assert "document" in table and "span" in table and "doc.txt" in table
    late = run_cli("similar", "kb.lance", "rain", "-k", "2", "--where", "chunk > 2", "-f", "jsonl", cwd=tmp_path)
    assert all(json.loads(line)["id"].split("#")[1] not in ("1", "2") for line in late.stdout.splitlines())


@pytest.mark.slow
def test_other_chunk_settings_are_refused_naming_both(tmp_path, tiny_st_dir):
    (tmp_path / "doc.txt").write_text(document(), encoding="utf-8")
    ok(embed(tmp_path, tiny_st_dir, "--chunk", "16", "--overlap", "4", "-o", "kb.lance"))
    version = open_store(tmp_path / "kb.lance").version
    for args, said in [
        (("--chunk", "12", "--overlap", "4"), "this run uses --chunk 12 --overlap 4"),
        (("--chunk", "16"), "this run uses --chunk 16 --overlap 0"),
        ((), "this run has no --chunk"),
    ]:
        done = embed(tmp_path, tiny_st_dir, *args, "-o", "kb.lance")
        err = done.stderr.decode()
        assert done.returncode == 2 and "Traceback" not in err, err
        assert err.splitlines()[0] == f"error: kb.lance: the store was made with --chunk 16 --overlap 4 and {said}"
        assert "--rebuild" in err
    assert open_store(tmp_path / "kb.lance").version == version  # nothing written

    ok(embed(tmp_path, tiny_st_dir, "-o", "plain.lance"))
    done = embed(tmp_path, tiny_st_dir, "--chunk", "16", "-o", "plain.lance")
    assert done.returncode == 2
    assert "the store was made without --chunk and this run uses --chunk 16 --overlap 0" in done.stderr.decode()
    ok(embed(tmp_path, tiny_st_dir, "--chunk", "12", "--overlap", "4", "-o", "kb.lance", "--rebuild"))
    assert read_vector_table(str(tmp_path / "kb.lance")).provenance.extra["chunking"] == {"chunk": 12, "overlap": 4}


@pytest.mark.slow
def test_a_rerun_skips_unchanged_chunks_and_rewrites_moved_ones(tmp_path, tiny_st_dir):
    (tmp_path / "doc.txt").write_text(document(), encoding="utf-8")
    ok(embed(tmp_path, tiny_st_dir, "--chunk", "16", "--overlap", "4", "-o", "kb.lance"))
    n = len(check_spans(tmp_path / "kb.lance", document())["rows"])
    again = ok(embed(tmp_path, tiny_st_dir, "--chunk", "16", "--overlap", "4", "-o", "kb.lance"))
    assert f"0 new, 0 changed, {n} unchanged" in again and "0 embedded" in again
    assert "keyed file:line" not in again  # chunks are keyed DOC#N

    # One more space after the first word: the same tokens, so the same chunks, but every later one moves by a
    # character. Its text is unchanged; its span is not, and the store must not keep the old one.
    moved = document(first_gap="  ")
    (tmp_path / "doc.txt").write_text(moved, encoding="utf-8")
    summary = ok(embed(tmp_path, tiny_st_dir, "--chunk", "16", "--overlap", "4", "-o", "kb.lance"))
    assert f"0 new, {n} changed, 0 unchanged" in summary
    assert len(check_spans(tmp_path / "kb.lance", moved)["rows"]) == n
