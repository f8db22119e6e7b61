"""Kept columns through embed → reduce → similar --where, several corpora, DuckDB on embedcli's outputs, titles and
--encoding auto: real subprocess runs of the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from conftest import CATALOGUE_GENRES, CATALOGUE_TITLES, REPO, SHARED_DATA, run_cli

from embedcli.formats.vector_files import read_vector_table
from embedcli.metrics import Metric, brute_force

TITLES, GENRES = CATALOGUE_TITLES, CATALOGUE_GENRES


@pytest.fixture
def items(tmp_path: Path) -> Path:
    path = tmp_path / "items.parquet"
    urls = [f"https://example.com/{i}" for i in range(len(TITLES))]
    pq.write_table(pa.table({"title": TITLES, "genre": GENRES, "url": urls, "year": list(range(2019, 2025))}), path)
    return path


def model(tiny_st_dir: Path) -> list[str]:
    return ["--model", str(tiny_st_dir)]


def hits_of(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
def test_keep_columns_through_embed_reduce_and_similar_where(tmp_path, items, tiny_st_dir):
    v, r = tmp_path / "v.parquet", tmp_path / "r.parquet"
    run_cli(
        "embed", str(items), "--text-column", "title", "--keep-columns", "genre,url", "-o", str(v),
        *model(tiny_st_dir), check=True,
    )  # fmt: skip
    table = pq.read_table(v)
    assert table.column_names == ["id", "text", "embedding", "genre", "url"]
    assert table.column("genre").to_pylist() == GENRES
    run_cli("reduce", str(v), "--dim", "2", "-o", str(r), "-q", check=True)
    reduced = pq.read_table(r)
    assert reduced.column("genre").to_pylist() == GENRES
    assert reduced.column("url").to_pylist() == table.column("url").to_pylist()

    # A text query, filtered: the oracle is numpy's cosine over the faq rows, with the query embedded by embed.
    done = run_cli("similar", str(v), "refund", "--where", "genre = 'faq'", "-f", "jsonl", "-k", "10")
    hits = hits_of(done)
    faq = [i for i, g in enumerate(GENRES) if g == "faq"]
    query = run_cli("embed", "-t", "refund", *model(tiny_st_dir), "-f", "npy", "-o", str(tmp_path / "q.npy"))
    assert query.returncode == 0, query.stderr.decode()
    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    scores = brute_force(Metric.cosine, np.load(tmp_path / "q.npy"), vectors[faq])[0]
    order = np.lexsort((np.arange(len(faq)), -scores))
    assert [h["id"] for h in hits] == [str(faq[i] + 1) for i in order]
    np.testing.assert_allclose([h["score"] for h in hits], scores[order], rtol=1e-5, atol=1e-6)

    # The reduced map, filtered, with no query: each support row's neighbours among the support rows only.
    hits = hits_of(run_cli("similar", str(r), "--where", "genre = 'support'", "-f", "jsonl", "-k", "3"))
    support = [str(i + 1) for i, g in enumerate(GENRES) if g == "support"]
    assert {h["query"] for h in hits} <= set(support) and {h["id"] for h in hits} <= set(support)
    assert len(hits) == 2 and all(h["query"] != h["id"] for h in hits)


def test_kept_columns_in_every_output_format_and_npy_refused(tmp_path, items, tiny_st_dir):
    args = ["embed", str(items), "--text-column", "title", "--keep-columns", "genre,year", *model(tiny_st_dir)]
    for suffix in ("arrow", "arrows", "jsonl"):
        out = tmp_path / f"v.{suffix}"
        run_cli(*args, "-o", str(out), "-q", check=True)
        if suffix == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        elif suffix == "arrow":
            rows = ipc.open_file(str(out)).read_all().to_pylist()
        else:
            rows = ipc.open_stream(str(out)).read_all().to_pylist()
        assert [(r["genre"], r["year"]) for r in rows] == list(zip(GENRES, range(2019, 2025), strict=True)), suffix
    done = run_cli(*args, "-o", str(tmp_path / "v.npy"))
    err = done.stderr.decode()
    assert done.returncode == 2 and "NPY file holds only the vectors" in err and ".parquet" in err
    assert not (tmp_path / "v.npy").exists()
    run_cli(*args, "-o", str(tmp_path / "kb.lance"), "-q", check=True)  # a store keeps them too, with their types
    stored = read_vector_table(str(tmp_path / "kb.lance"))
    rows = sorted(zip(stored.ids, stored.columns["genre"], stored.columns["year"], strict=True))
    assert [(g, y) for _, g, y in rows] == list(zip(GENRES, range(2019, 2025), strict=True))
    done = run_cli(*args[:-2], "--keep-columns", "colour", *model(tiny_st_dir), "-o", str(tmp_path / "x.parquet"))
    assert done.returncode == 1 and "no column 'colour'" in done.stderr.decode()


def test_where_errors_are_one_line_exit_2(tmp_path, items, tiny_st_dir):
    v = tmp_path / "v.parquet"
    run_cli("embed", str(items), "--text-column", "title", "--keep-columns", "genre", "-o", str(v), "-q",
            *model(tiny_st_dir), check=True)  # fmt: skip
    done = run_cli("similar", str(v), "refund", "--where", "genre = faq")
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    assert err.splitlines()[0].startswith("error: --where 'genre = faq': Binder Error")
    assert "columns here: id, text, genre" in err
    done = run_cli("similar", str(v), "refund", "--where", "genre = 'none'")
    assert done.returncode == 1 and "no row matches" in done.stderr.decode()


def test_several_corpora_and_the_ambiguous_positional(tmp_path, items, tiny_st_dir):
    folder = tmp_path / "vectors"
    folder.mkdir()
    for name in ("a.parquet", "b.jsonl"):
        run_cli("embed", str(items), "--text-column", "title", "--keep-columns", "genre", "-o", str(folder / name),
                "-q", *model(tiny_st_dir), check=True)  # fmt: skip
    a, b = str(folder / "a.parquet"), str(folder / "b.jsonl")
    repeated = hits_of(run_cli("similar", "--corpus", a, "--corpus", b, "refund", "-f", "jsonl", "-k", "12"))
    assert len(repeated) == 12
    assert {h["id"] for h in repeated} == {f"{p}:{i}" for p in (a, b) for i in range(1, 7)}
    # the same file twice gives the same scores twice
    by_id = {h["id"]: h["score"] for h in repeated}
    assert all(by_id[f"{a}:{i}"] == pytest.approx(by_id[f"{b}:{i}"], abs=1e-6) for i in range(1, 7))
    as_folder = hits_of(run_cli("similar", str(folder), "refund", "-f", "jsonl", "-k", "12"))
    assert as_folder == repeated
    filtered = hits_of(run_cli("similar", "-C", f"{folder}/*", "refund", "--where", "genre = 'music'", "-f", "jsonl"))
    assert sorted(h["id"] for h in filtered) == [f"{a}:4", f"{b}:4"]
    done = run_cli("similar", a, b, "refund")
    err = done.stderr.decode()
    assert done.returncode == 2 and f"'{b}' is a vector file, not a query text" in err and "--corpus" in err


def test_readme_duckdb_sql_runs_on_embeds_parquet_and_its_pipe(tmp_path, tiny_st_dir, workdir):
    duckdb = pytest.importorskip("duckdb")
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### DuckDB") :]
    sql = re.search(r"```sql\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    piped = re.search(r'duckdb -c "\n(.*?)"\n```', section, re.S).group(1)  # type: ignore[union-attr]
    texts = ["the cat sat on the mat", "a cat sat on a mat", "stock prices fell sharply", "rain over the hills"]
    (workdir / "docs.txt").write_text("\n".join(texts) + "\n")
    run_cli("embed", "docs.txt", "-o", "v.parquet", "-q", check=True)  # the default model: 384-d, as the SQL says
    rows = duckdb.sql(sql).fetchall()
    vectors = np.asarray(pq.read_table("v.parquet").column("embedding").to_pylist(), dtype=np.float32)
    scores = brute_force(Metric.cosine, vectors[:1], vectors)[0]
    order = np.lexsort((np.arange(len(texts)), -scores))
    assert [r[0] for r in rows] == [str(i + 1) for i in order]
    np.testing.assert_allclose([r[2] for r in rows], scores[order], rtol=1e-5, atol=1e-6)
    # The pipe: embed's JSON lines straight into DuckDB reading /dev/stdin (the CLI's SQL, run by the package).
    reader = (
        "import duckdb, json, sys; con = duckdb.connect(); con.execute('SET enable_progress_bar = false'); "
        "print(json.dumps(con.sql(sys.argv[1]).fetchall()))"
    )
    embed = subprocess.Popen([sys.executable, "-m", "embedcli", "embed", "docs.txt", "-f", "jsonl", "-q"],
                             stdout=subprocess.PIPE)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", reader, piped], stdin=embed.stdout, capture_output=True, timeout=120)
    assert embed.wait(timeout=120) == 0
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert [r[0] for r in got] == [str(i + 1) for i in order]
    np.testing.assert_allclose([r[2] for r in got], scores[order], rtol=1e-5, atol=1e-6)


def test_folder_documents_get_a_title_column(tmp_path, tiny_st_dir):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Refunds\n\nHow to get your money back.\n")
    (notes / "b.html").write_text("<title>Shipping</title><p>Parcels take three days.</p>")
    (notes / "c.txt").write_text("no title here")
    out = tmp_path / "notes.parquet"
    run_cli("embed", str(notes), "-o", str(out), "-q", *model(tiny_st_dir), check=True)
    table = pq.read_table(out).to_pydict()
    assert table["id"] == ["a.md", "b.html", "c.txt"]
    assert table["title"] == ["Refunds", "Shipping", None]
    assert table["text"][1] == "Parcels take three days."


@pytest.mark.slow
def test_encoding_auto_reads_the_mixed_speeches_and_names_the_encodings(tmp_path, tiny_st_dir):
    folder = SHARED_DATA / "us-speeches" / "state_union"
    if not folder.is_dir():
        pytest.skip("shared data not present")
    out = tmp_path / "s.parquet"
    done = run_cli("embed", str(folder), "-o", str(out), *model(tiny_st_dir))
    assert done.returncode == 1 and "not valid utf-8" in done.stderr.decode() and "auto" in done.stderr.decode()
    done = run_cli("embed", str(folder), "--encoding", "auto", "-o", str(out), *model(tiny_st_dir))
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert pq.read_metadata(out).num_rows == 65
    summary = err.strip().splitlines()[-1]
    told = re.search(r"encodings told: (.*?)( · |$)", summary).group(1)  # type: ignore[union-attr]
    assert told.startswith("59 utf-8, ")  # 65 speeches, 6 of them not UTF-8
    assert "1954-Eisenhower.txt" in told and "1970-Nixon.txt" in told


def test_json_lines_on_stdin_keep_their_columns_and_plain_text_is_refused(tiny_st_dir):
    lines = "".join(json.dumps({"text": t, "genre": g}) + "\n" for t, g in zip(TITLES, GENRES, strict=True))
    done = run_cli("embed", "--keep-columns", "genre", "-f", "jsonl", "-q", *model(tiny_st_dir), input=lines)
    assert [json.loads(line)["genre"] for line in done.stdout.splitlines()] == GENRES, done.stderr.decode()
    done = run_cli("embed", "--keep-columns", "genre", "-f", "jsonl", *model(tiny_st_dir), input="plain text\n")
    assert done.returncode == 2 and "--keep-columns applies to JSON input" in done.stderr.decode()
