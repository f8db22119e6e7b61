"""`similar`'s hits carry the corpus's kept columns (`--show-columns`): JSONL, CSV, Parquet and the table, checked
against the input file the corpus was embedded from, through real subprocess runs of the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CATALOGUE_GENRES, CATALOGUE_TITLES, run_cli

TITLES, GENRES = CATALOGUE_TITLES, CATALOGUE_GENRES
URLS = [f"https://example.com/{i}" for i in range(len(TITLES))]
YEARS = [2019, 2020, None, 2022, 2023, 2024]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny_st_dir: Path) -> tuple[Path, Path]:
    """(the input items, the vectors `embed --keep-columns genre,url,year` made of them)."""
    folder = tmp_path_factory.mktemp("hit-columns")
    items, vectors = folder / "items.parquet", folder / "v.parquet"
    pq.write_table(pa.table({"title": TITLES, "genre": GENRES, "url": URLS, "year": YEARS}), items)
    run_cli(
        "embed", str(items), "--text-column", "title", "--keep-columns", "genre,url,year", "-o", str(vectors),
        "--model", str(tiny_st_dir), "-q", check=True,
    )  # fmt: skip
    return items, vectors


def source_row(hit_id: str) -> dict:
    """The input row a hit's id names (embed numbers rows from 1)."""
    row = int(hit_id) - 1
    return {"title": TITLES[row], "genre": GENRES[row], "url": URLS[row], "year": YEARS[row]}


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.mark.slow
def test_the_issue_command_shows_each_hits_kept_columns(corpus):
    _, vectors = corpus
    out = ok(run_cli("similar", str(vectors), "refund", "--where", "genre = 'faq'", "-f", "jsonl"))
    hits = [json.loads(line) for line in out.splitlines()]
    assert len(hits) == GENRES.count("faq")
    for hit in hits:
        row = source_row(hit["id"])
        assert list(hit) == ["query", "rank", "id", "score", "genre", "url", "year", "text"]
        expected = {"genre": row["genre"], "url": row["url"], "year": row["year"], "text": row["title"]}
        assert {name: hit[name] for name in expected} == expected


@pytest.mark.slow
def test_csv_parquet_and_the_table_with_a_choice_of_columns(corpus, tmp_path):
    _, vectors = corpus
    # Every row as a query (no model needed): CSV with all kept columns, nulls as empty cells.
    rows = list(csv.DictReader(io.StringIO(ok(run_cli("similar", str(vectors), "-k", "2", "-f", "csv", "-q")))))
    assert len(rows) == 12 and list(rows[0]) == ["query", "rank", "id", "score", "genre", "url", "year", "text"]
    for row in rows:
        source = source_row(row["id"])
        assert (row["genre"], row["url"], row["text"]) == (source["genre"], source["url"], source["title"])
        assert row["year"] == ("" if source["year"] is None else str(source["year"]))

    # Parquet keeps the input's types; --show-columns picks and orders them.
    hits = tmp_path / "hits.parquet"
    ok(run_cli("similar", str(vectors), "-k", "3", "--show-columns", "year,genre", "-o", str(hits), "-q"))
    table = pq.read_table(hits)
    assert table.column_names == ["query", "rank", "id", "score", "year", "genre", "text"]
    assert table.schema.field("year").type == pa.int64()
    for hit in table.to_pylist():
        assert (hit["year"], hit["genre"]) == (source_row(hit["id"])["year"], source_row(hit["id"])["genre"])

    # The table shows none unless asked; asked, the columns named.
    plain = ok(run_cli("similar", str(vectors), "-k", "1", "-f", "table", "-q"))
    assert "genre" not in plain and "example.com" not in plain
    shown = ok(run_cli("similar", str(vectors), "-k", "1", "-f", "table", "--show-columns", "url", "-q"))
    assert " url " in shown and any(url in shown for url in URLS) and "genre" not in shown

    # 'none' keeps the plain hit schema.
    out = ok(run_cli("similar", str(vectors), "-k", "1", "-f", "jsonl", "--show-columns", "none", "-q"))
    assert all(list(json.loads(line)) == ["query", "rank", "id", "score", "text"] for line in out.splitlines())


@pytest.mark.slow
def test_unknown_columns_are_one_line_and_plain_corpora_keep_their_schema(corpus, tmp_path, tiny_st_dir):
    _, vectors = corpus
    done = run_cli("similar", str(vectors), "-k", "1", "--show-columns", "colour", "-f", "jsonl")
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err and not done.stdout
    assert "has no column 'colour'" in err and "columns here: genre, url, year" in err
    done = run_cli("similar", str(vectors), "-k", "1", "--show-columns", "rank", "-f", "jsonl")
    assert done.returncode == 2 and "already" in done.stderr.decode()

    plain = tmp_path / "plain.parquet"
    run_cli("embed", "-t", "a refund", "-t", "jazz", "--model", str(tiny_st_dir), "-o", str(plain), "-q", check=True)
    out = ok(run_cli("similar", str(plain), "-k", "1", "-f", "jsonl", "-q"))
    assert all(list(json.loads(line)) == ["query", "rank", "id", "score", "text"] for line in out.splitlines())
    header = ok(run_cli("similar", str(plain), "-k", "1", "-f", "csv", "-q")).splitlines()[0]
    assert header == "query,rank,id,score,text"
    ok(run_cli("similar", str(plain), "-k", "1", "-o", str(tmp_path / "h.parquet"), "-q"))
    assert pq.read_table(tmp_path / "h.parquet").column_names == ["query", "rank", "id", "score", "text"]
