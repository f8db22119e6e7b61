"""`embed --chunk/--overlap/--pool` and `similar` on chunk files, through the CLI: the issue's commands as written,
every output format, pooled documents against their chunks, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA, cache_at, run_cli
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.errors import EmbedcliError
from embedcli.formats.vector_files import read_vector_table

BOOK = SHARED_DATA / "gutenberg-en" / "1342-0.txt"  # Pride and Prejudice: UTF-8 with a BOM, CRLF line ends


def excerpt(folder: Path, size: int, name: str = "book.txt") -> Path:
    """The first `size` bytes of the novel, cut at a line end, BOM and CRLF kept."""
    data = BOOK.read_bytes()[:size]
    path = folder / name
    path.write_bytes(data[: data.rindex(b"\r\n") + 2])
    return path


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def refused(*args: str) -> str:
    """The usage error (exit status 2) the command raises, as its message and hint (`main` prints them)."""
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, EmbedcliError) and result.exception.exit_code == 2, result.exception
    return f"{result.exception.message} · {result.exception.hint}"


@pytest.fixture(scope="module")
def tiny(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny model, run through the default backend (auto: exported to ONNX once for this module)."""
    with cache_at(tmp_path_factory.mktemp("cache")):
        yield ["-m", str(tiny_st_dir), "-q"]


def check_rows(table, text: str, name: str) -> None:
    n = len(table.ids)
    assert n > 5
    assert table.ids == [f"{name}#{i}" for i in range(1, n + 1)]
    assert table.columns["doc_id"] == [name] * n and table.columns["chunk"] == list(range(1, n + 1))
    starts, ends = table.columns["start"], table.columns["end"]
    assert table.texts == [text[s:e] for s, e in zip(starts, ends, strict=True)]
    assert starts[0] == 0 and ends[-1] == len(text.rstrip())  # the whole book, to its last word
    assert all(b <= a for a, b in zip(ends, starts[1:], strict=False))  # consecutive chunks overlap
    assert all(s == 0 or text[s - 1].isspace() for s in starts)
    assert all(e == len(text) or text[e].isspace() for e in ends)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "arrow"])
def test_chunk_rows_point_back_to_the_text_in_every_file_format(workdir, tiny, suffix):
    book = excerpt(workdir, 12_000)
    invoke("embed", "book.txt", "--chunk", "24", "--overlap", "4", *tiny, "-o", f"chunks.{suffix}")
    table = read_vector_table(f"chunks.{suffix}")
    check_rows(table, book.read_bytes().decode("utf-8-sig"), "book.txt")
    if suffix != "jsonl":  # JSON lines carry no metadata
        assert table.provenance.extra["chunking"] == {"chunk": 24, "overlap": 4}
        assert table.provenance.backend == "onnx"  # the default backend's fast path


@pytest.mark.parametrize("backend", ["sentence-transformers", "transformers"])
def test_the_torch_backends_chunk_the_same_rows(workdir, tiny, tiny_bert_dir, backend):
    book = excerpt(workdir, 6_000)
    model = tiny if backend == "sentence-transformers" else ["-m", str(tiny_bert_dir), "-q"]
    invoke("embed", "book.txt", "--chunk", "24", "--overlap", "4", *tiny, "-o", "auto.parquet")
    invoke("embed", "book.txt", "--chunk", "24", "--overlap", "4", *model, "-b", backend, "-o", "mine.parquet")
    mine, auto = read_vector_table("mine.parquet"), read_vector_table("auto.parquet")
    check_rows(mine, book.read_bytes().decode("utf-8-sig"), "book.txt")
    assert mine.columns == auto.columns and mine.texts == auto.texts
    assert mine.provenance.backend == backend
    if backend == "sentence-transformers":  # the same model: the onnx export's vectors within its tolerance
        np.testing.assert_allclose(mine.vectors, auto.vectors, atol=1e-5)


def test_latin1_book_chunks_into_a_store_and_npy_is_refused(workdir, tiny):
    latin = SHARED_DATA / "gutenberg-en" / "latin1" / "1661-8.txt"
    raw = latin.read_bytes()[:8_000]
    Path("holmes.txt").write_bytes(raw[: raw.rindex(b"\r\n") + 2])
    text = Path("holmes.txt").read_bytes().decode("latin-1")
    args = ("embed", "holmes.txt", "--encoding", "latin-1", "--chunk", "24", *tiny)
    invoke(*args, "-o", "kb.lance")
    stored = read_vector_table("kb.lance")
    assert sorted(stored.ids, key=lambda i: int(i.split("#")[1]))[0] == "holmes.txt#1"
    assert all(t in text for t in stored.texts or [])
    assert "an .npy matrix cannot hold" in refused(*args, "-o", "v.npy") and not Path("v.npy").exists()


def test_pooled_documents_equal_the_mean_of_their_chunks(workdir, tiny):
    notes = workdir / "notes"
    (notes / "deep").mkdir(parents=True)
    excerpt(notes, 3_000, "a.txt")
    (notes / "deep" / "b.md").write_text("# Title\n\nA *short* note about the rain.\n", encoding="utf-8")
    (notes / "c.txt").write_bytes(BOOK.read_bytes()[5_000:9_000].split(b"\r\n", 1)[1])
    invoke("embed", "notes/", "--chunk", "24", "--overlap", "4", *tiny, "-o", "chunks.parquet")
    invoke("embed", "notes/", "--chunk", "24", "--overlap", "4", "--pool", "mean", *tiny, "-o", "docs.parquet")
    invoke("embed", "notes/", "--chunk", "24", "--pool", "mean", "--normalize", *tiny, "-o", "unit.parquet")
    chunks, docs = read_vector_table("chunks.parquet"), read_vector_table("docs.parquet")
    assert docs.ids == ["a.txt", "c.txt", "deep/b.md"]
    doc_ids = np.array(chunks.columns["doc_id"])
    for row, name in enumerate(docs.ids):
        np.testing.assert_allclose(docs.vectors[row], chunks.vectors[doc_ids == name].mean(axis=0), atol=1e-6)
        assert docs.columns["chunks"][row] == (doc_ids == name).sum()
    unit = read_vector_table("unit.parquet").vectors
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    assert docs.provenance.extra["chunking"]["pool"] == "mean"


def test_similar_on_chunks_names_document_and_span(workdir, tiny):
    book = excerpt(workdir, 12_000)
    text = book.read_bytes().decode("utf-8-sig")
    invoke("embed", "book.txt", "--chunk", "24", "--overlap", "4", *tiny, "-o", "chunks.parquet")
    out = invoke("similar", "chunks.parquet", "a single man in possession of a good fortune", "-k", "3", "-f", "jsonl")
    hits = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(hits) == 3
    for hit in hits:
        assert hit["doc_id"] == "book.txt" and hit["id"].startswith("book.txt#")
        assert hit["text"] == text[hit["start"] : hit["end"]]
    table = invoke("similar", "chunks.parquet", "fortune", "-k", "2", "-f", "table").stdout
    assert "document" in table and "span" in table and "book.txt" in table
    invoke("similar", "chunks.parquet", "fortune", "-k", "2", "-o", "hits.csv")
    header = Path("hits.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "query,rank,id,score,doc_id,start,end,text"
    invoke("similar", "chunks.parquet", "fortune", "-k", "2", "-o", "hits.parquet")
    assert pq.read_table("hits.parquet").column("doc_id").to_pylist() == ["book.txt"] * 2


def test_truncation_hints_at_chunk_and_chunk_options_need_chunk(workdir, tiny):
    excerpt(workdir, 3_000)
    long_text = Path("book.txt").read_text(encoding="utf-8-sig").replace("\r\n", " ")
    result = invoke("embed", "-t", long_text, *tiny[:-1], "-f", "jsonl")
    assert "truncated to 32 tokens (--chunk TOKENS embeds all of a long text)" in result.stderr
    proc = run_cli("embed", "book.txt", "--pool", "mean", *tiny, "-o", "v.parquet", cwd=workdir)
    assert proc.returncode == 2 and "add --chunk" in proc.stderr.decode() and not Path("v.parquet").exists()
    message = refused("embed", "book.txt", "--chunk", "40", *tiny, "-o", "v.parquet")
    assert "--chunk 40 does not fit" in message and "--chunk 30 or less" in message


def test_word_vectors_have_no_tokenizer_to_chunk_with(workdir, word2vec_bin):
    excerpt(workdir, 3_000)
    assert "no fast tokenizer" in refused(
        "embed", "book.txt", "--chunk", "20", "-m", str(word2vec_bin), "-o", "v.parquet"
    )


@pytest.mark.slow
def test_the_issue_commands_on_a_book_with_the_default_model(workdir):
    """`embedcli embed book.txt --chunk 200 --overlap 20 -o chunks.parquet`, then `similar … -k 5`, as written."""
    book = excerpt(workdir, 40_000)  # the first chapters: the Meryton ball is in chapter 3
    text = book.read_bytes().decode("utf-8-sig")
    run_cli("embed", "book.txt", "--chunk", "200", "--overlap", "20", "-o", "chunks.parquet", cwd=workdir, check=True)
    check_rows(read_vector_table(str(workdir / "chunks.parquet")), text, "book.txt")
    proc = run_cli("similar", "chunks.parquet", "what did Darcy say at the ball", "-k", "5", "-f", "jsonl", cwd=workdir)
    hits = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(hits) == 5 and all(text[h["start"] : h["end"]] == h["text"] for h in hits)
    assert any("Darcy" in h["text"] for h in hits[:2])


def test_a_streamed_corpus_of_chunks_names_spans_too(workdir, tiny):
    from embedcli.search.corpus import load_corpus

    excerpt(workdir, 6_000)
    invoke("embed", "book.txt", "--chunk", "24", *tiny, "-o", "chunks.parquet")
    whole, streamed = load_corpus("chunks.parquet", stream=False), load_corpus("chunks.parquet", stream=True)
    assert streamed.spans == whole.spans and whole.spans is not None and len(whole.spans) == len(whole.ids)


def test_where_on_chunk_columns_keeps_the_spans(workdir, tiny):
    book = excerpt(workdir, 6_000)
    text = book.read_bytes().decode("utf-8-sig")
    invoke("embed", "book.txt", "--chunk", "24", *tiny, "-o", "chunks.parquet")
    out = invoke("similar", "chunks.parquet", "fortune", "-k", "3", "--where", "chunk > 3", "-f", "jsonl").stdout
    hits = [json.loads(line) for line in out.splitlines()]
    assert len(hits) == 3 and all(int(h["id"].split("#")[1]) > 3 for h in hits)
    assert all(h["doc_id"] == "book.txt" and text[h["start"] : h["end"]] == h["text"] for h in hits)
