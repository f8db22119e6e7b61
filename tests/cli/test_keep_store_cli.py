"""`embed --keep-columns` into a `.lance` store and with `--chunk`: the kept columns are columns of the store (typed
from the first rows), in each row's content hash, and one of the store's settings; chunk rows and pooled rows carry
their document's kept columns into every output. Real subprocess runs of the CLI, checked against the input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from conftest import run_cli

from embedcli.formats.lance_store import open_store
from embedcli.formats.vector_files import read_vector_table

ITEMS = [
    {"id": "a", "body": "How do I get a refund for my order? The parcel never came to the house.", "genre": "faq"},
    {"id": "b", "body": "Shipping times to Europe are five days. Island orders take a week more.", "genre": "faq"},
    {"id": "c", "body": "Our new jazz album is out now. It has ten songs and a long piano solo.", "genre": "music"},
    {"id": "d", "body": "Reset my password please. The link in the mail does not open.", "genre": "support"},
]
for number, item in enumerate(ITEMS):
    item["url"] = f"https://example.com/{item['id']}"
    item["year"] = 2020 + number


def write_items(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


def embed(folder: Path, model: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(
        "embed", "items.jsonl", "--id-field", "id", "--text-field", "body", "--model", str(model), *args, cwd=folder
    )


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def hits_of(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.splitlines()]


def by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


@pytest.mark.slow
def test_a_store_keeps_columns_filters_by_them_and_rewrites_a_changed_row(tmp_path, tiny_st_dir):
    write_items(tmp_path / "items.jsonl", ITEMS)
    ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url,year", "-o", "kb.lance"))
    store = open_store(tmp_path / "kb.lance")
    assert store.columns == ["genre", "url", "year"]
    schema = pa.schema([(name, store._dataset.schema.field(name).type) for name in store.columns])
    assert schema == pa.schema([("genre", pa.string()), ("url", pa.string()), ("year", pa.int64())])
    table = read_vector_table(str(tmp_path / "kb.lance"))
    assert table.provenance.extra["keep_columns"] == ["genre", "url", "year"]
    rows = {i: (g, u, y) for i, g, u, y in zip(table.ids, *(table.columns[n] for n in store.columns), strict=True)}
    assert rows == {item["id"]: (item["genre"], item["url"], item["year"]) for item in ITEMS}

    hits = hits_of(run_cli("similar", "kb.lance", "refund", "--where", "genre = 'faq'", "-f", "jsonl", cwd=tmp_path))
    assert sorted(h["id"] for h in hits) == ["a", "b"]
    for hit in hits:
        assert list(hit) == ["query", "rank", "id", "score", "genre", "url", "year", "text"]
        item = by_id(ITEMS)[hit["id"]]
        assert [hit[name] for name in ("genre", "url", "year", "text")] == [
            item[name] for name in ("genre", "url", "year", "body")
        ]
    late = hits_of(run_cli("similar", "kb.lance", "refund", "--where", "year >= 2022", "-f", "jsonl", cwd=tmp_path))
    assert sorted(h["id"] for h in late) == ["c", "d"]

    again = ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url,year", "-o", "kb.lance"))
    assert "0 new, 0 changed, 4 unchanged" in again and "0 embedded" in again
    # Only the genre of one item changes (its text does not): that row, and only it, is written again.
    changed = [dict(item, genre="faq") if item["id"] == "c" else item for item in ITEMS]
    write_items(tmp_path / "items.jsonl", changed)
    summary = ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "year,url,genre", "-o", "kb.lance"))  # any order
    assert "0 new, 1 changed, 3 unchanged" in summary and "1 embedded" in summary
    hits = hits_of(run_cli("similar", "kb.lance", "jazz", "--where", "genre = 'faq'", "-f", "jsonl", cwd=tmp_path))
    assert sorted(h["id"] for h in hits) == ["a", "b", "c"]


@pytest.mark.slow
def test_other_kept_columns_or_a_new_type_are_refused_in_one_line(tmp_path, tiny_st_dir):
    write_items(tmp_path / "items.jsonl", ITEMS)
    ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url", "-o", "kb.lance"))
    version = open_store(tmp_path / "kb.lance").version
    for args, said in [
        (("--keep-columns", "genre"), "this run uses --keep-columns genre"),
        (("--keep-columns", "genre,url,year"), "this run uses --keep-columns genre,url,year"),
        ((), "this run has no --keep-columns"),
    ]:
        done = embed(tmp_path, tiny_st_dir, *args, "-o", "kb.lance")
        err = done.stderr.decode()
        assert done.returncode == 2 and "Traceback" not in err, err
        assert err.splitlines()[0] == f"error: kb.lance: the store was made with --keep-columns genre,url and {said}"
        assert "--rebuild" in err.splitlines()[1]
    ok(embed(tmp_path, tiny_st_dir, "-o", "plain.lance"))
    done = embed(tmp_path, tiny_st_dir, "--keep-columns", "genre", "-o", "plain.lance")
    assert done.returncode == 2
    assert "made without --keep-columns and this run uses --keep-columns genre" in done.stderr.decode()
    done = embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,content_hash", "-o", "kb.lance")
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: --keep-columns: 'content_hash' is a column a store writes itself")
    assert open_store(tmp_path / "kb.lance").version == version  # nothing written

    # The store typed genre as strings from its first rows: a number there later is one line, exit 1.
    write_items(tmp_path / "items.jsonl", [dict(ITEMS[0], genre=3, body="A new text to embed."), *ITEMS[1:]])
    done = embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url", "-o", "kb.lance")
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err, err
    assert err.splitlines()[0].startswith("error: kb.lance: column 'genre': a value does not fit the type string")
    assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("hint: a kept column needs one type")
    assert open_store(tmp_path / "kb.lance").version == version
    # A new store types its columns from its first rows: a number and strings among them are refused too.
    done = embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url", "-o", "kb.lance", "--rebuild")
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err, err
    assert err.startswith("error: column 'genre': its first rows hold values of more than one type")
    assert open_store(tmp_path / "kb.lance").version == version


def check_chunk_rows(rows: list[dict]) -> None:
    """Every chunk row is a span of its document's text and carries that document's kept columns."""
    items = by_id(ITEMS)
    assert {row["doc_id"] for row in rows} == set(items)
    assert len(rows) > len(items)  # documents of more than one chunk
    for row in rows:
        item = items[row["doc_id"]]
        assert row["id"] == f"{item['id']}#{row['chunk']}"
        assert row["text"] == item["body"][row["start"] : row["end"]]
        assert (row["genre"], row["url"], row["year"]) == (item["genre"], item["url"], item["year"])


@pytest.mark.slow
def test_chunk_rows_and_pooled_rows_carry_their_documents_columns(tmp_path, tiny_st_dir):
    write_items(tmp_path / "items.jsonl", ITEMS)
    keep = ("--keep-columns", "genre,url,year", "--chunk", "8")
    ok(embed(tmp_path, tiny_st_dir, *keep, "-o", "c.parquet"))
    table = pq.read_table(tmp_path / "c.parquet")
    names = ["id", "text", "embedding", "doc_id", "chunk", "start", "end", "genre", "url", "year"]
    assert table.column_names == names
    assert table.schema.field("year").type == pa.int64()
    check_chunk_rows(table.drop(["embedding"]).to_pylist())
    ok(embed(tmp_path, tiny_st_dir, *keep, "-o", "c.arrow"))
    check_chunk_rows(ipc.open_file(str(tmp_path / "c.arrow")).read_all().drop(["embedding"]).to_pylist())
    ok(embed(tmp_path, tiny_st_dir, *keep, "-o", "c.jsonl"))
    check_chunk_rows([json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()])

    ok(embed(tmp_path, tiny_st_dir, *keep, "--pool", "mean", "-o", "p.jsonl"))
    pooled = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [list(row)[3:] for row in pooled] == [["chunks", "genre", "url", "year"]] * len(ITEMS)
    assert [(r["id"], r["genre"], r["url"], r["year"]) for r in pooled] == [
        (i["id"], i["genre"], i["url"], i["year"]) for i in ITEMS
    ]
    chunks = table.column("doc_id").to_pylist()
    assert [r["chunks"] for r in pooled] == [chunks.count(i["id"]) for i in ITEMS]

    hits = hits_of(run_cli("similar", "c.parquet", "refund", "--where", "genre = 'faq'", "-f", "jsonl", cwd=tmp_path))
    assert hits and {h["doc_id"] for h in hits} <= {"a", "b"}
    assert list(hits[0]) == ["query", "rank", "id", "score", "doc_id", "start", "end", "genre", "url", "year", "text"]


@pytest.mark.slow
def test_a_chunk_store_keeps_columns_and_names_clashes_are_refused(tmp_path, tiny_st_dir):
    write_items(tmp_path / "items.jsonl", ITEMS)
    ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url,year", "--chunk", "8", "-o", "kb.lance"))
    assert open_store(tmp_path / "kb.lance").columns == ["doc_id", "chunk", "start", "end", "genre", "url", "year"]
    stored = read_vector_table(str(tmp_path / "kb.lance"))
    assert stored.texts is not None
    rows = [
        {"id": i, "text": t, **{name: stored.columns[name][n] for name in stored.columns}}
        for n, (i, t) in enumerate(zip(stored.ids, stored.texts, strict=True))
    ]
    check_chunk_rows(rows)
    hits = hits_of(run_cli("similar", "kb.lance", "jazz", "--where", "genre = 'music'", "-f", "jsonl", cwd=tmp_path))
    assert hits and all(h["doc_id"] == "c" and h["genre"] == "music" for h in hits)

    # A changed genre rewrites every chunk of that document, and no other.
    n = sum(1 for row in rows if row["doc_id"] == "d")
    write_items(tmp_path / "items.jsonl", [dict(i, genre="faq") if i["id"] == "d" else i for i in ITEMS])
    summary = ok(embed(tmp_path, tiny_st_dir, "--keep-columns", "genre,url,year", "--chunk", "8", "-o", "kb.lance"))
    assert f"0 new, {n} changed, {len(rows) - n} unchanged" in summary

    for name in ("doc_id", "start", "chunks"):
        done = embed(tmp_path, tiny_st_dir, "--keep-columns", f"genre,{name}", "--chunk", "8", "-o", "x.parquet")
        err = done.stderr.decode()
        assert done.returncode == 2 and err.startswith(f"error: --keep-columns: '{name}' is a column --chunk writes")
    (tmp_path / "book.txt").write_text("One plain document.\n", encoding="utf-8")
    done = run_cli("embed", "book.txt", "--keep-columns", "genre", "--chunk", "8", "-o", "x.parquet", cwd=tmp_path)
    assert done.returncode == 2 and "book.txt is plain text" in done.stderr.decode()
    assert not (tmp_path / "x.parquet").exists()
