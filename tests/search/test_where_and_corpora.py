"""`similar --where` (rows filtered by DuckDB) and several corpora searched as one, against plain Python and numpy."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli.errors import InputError, UsageError
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.vector_files import read_vector_table
from embedcli.metrics import Metric, brute_force
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch
from embedcli.search.corpora import corpus_paths, load_corpora
from embedcli.search.corpus import load_corpus
from embedcli.search.neighbours import find_similar
from embedcli.search.queries import Queries
from embedcli.search.where import corpus_where, where_rows

SEED = 1234
GENRES = ["faq", "music", "support", None]


def write_corpus(path, rows: int, seed: int, model: str = "m", dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    columns = {"genre": [GENRES[i % 4] for i in range(rows)], "year": [2000 + i % 7 for i in range(rows)]}
    batch = EmbeddedBatch([f"r{i}" for i in range(rows)], [f"text {i}" for i in range(rows)], vectors, columns)
    with open_vector_writer(str(path), fmt_of(path), Provenance(backend="onnx", model=model, dimension=dim)) as w:
        w.write(batch)
    return vectors


def fmt_of(path):
    from embedcli.formats import output_format_for

    return output_format_for(str(path))


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".arrows"])
def test_where_keeps_the_rows_python_would(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    write_corpus(path, 50, SEED)
    corpus = load_corpus(str(path))
    table = read_vector_table(str(path))
    cases = {
        "genre = 'faq'": lambda g, y, i: g == "faq",
        "genre = 'faq' AND year >= 2003": lambda g, y, i: g == "faq" and y >= 2003,
        "genre IS NULL OR id LIKE 'r1%'": lambda g, y, i: g is None or i.startswith("r1"),
        "text = 'text 7'": lambda g, y, i: i == "r7",
    }
    for predicate, keep in cases.items():
        rows = zip(table.columns["genre"], table.columns["year"], table.ids, strict=True)
        expected = [n for n, (g, y, i) in enumerate(rows) if keep(g, y, i)]
        assert where_rows(corpus, predicate).tolist() == expected, predicate


def test_filtered_search_equals_numpy_on_the_kept_rows(tmp_path):
    vectors = write_corpus(tmp_path / "c.parquet", 300, SEED)
    corpus, rows = corpus_where(load_corpus(str(tmp_path / "c.parquet")), "genre = 'support'")
    assert rows.tolist() == list(range(2, 300, 4))
    queries = np.random.default_rng(SEED + 1).standard_normal((3, 8)).astype(np.float32)
    hits, _ = find_similar(corpus, Queries(["a", "b", "c"], queries), Metric.cosine, k=5)
    oracle = brute_force(Metric.cosine, queries, vectors[rows])
    hits = list(hits)
    for q, label in enumerate(["a", "b", "c"]):
        group = [h for h in hits if h.query == label]
        best = np.lexsort((np.arange(len(rows)), -oracle[q]))[:5]
        assert [h.id for h in group] == [f"r{rows[b]}" for b in best]
        np.testing.assert_allclose([h.score for h in group], oracle[q][best], rtol=1e-5)


def test_where_errors_are_one_line_and_cannot_run_another_query(tmp_path):
    write_corpus(tmp_path / "c.parquet", 8, SEED)
    corpus = load_corpus(str(tmp_path / "c.parquet"))
    with pytest.raises(UsageError, match='"faq" not found') as error:
        where_rows(corpus, "genre = faq")
    assert "genre, year" in (error.value.hint or "") and "\n" not in error.value.message
    for bad in ["1=1) UNION SELECT 5 --", "genre = 'faq'; SELECT 1", "read_csv('/etc/passwd') IS NOT NULL"]:
        with pytest.raises(UsageError):
            where_rows(corpus, bad)
    with pytest.raises(InputError, match="no row matches"):
        corpus_where(corpus, "year > 3000")


def test_several_corpora_are_one_corpus_in_order(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", 5, 1)
    (tmp_path / "sub").mkdir()
    b = write_corpus(tmp_path / "sub" / "b.jsonl", 4, 2)
    joined = load_corpora(corpus_paths([str(tmp_path / "a.parquet"), str(tmp_path / "sub")]))
    assert joined.ids == [f"{tmp_path}/a.parquet:r{i}" for i in range(5)] + [
        f"{tmp_path}/sub/b.jsonl:r{i}" for i in range(4)
    ]
    np.testing.assert_array_equal(joined.vectors, np.concatenate([a, b]))
    assert joined.columns["genre"] == ["faq", "music", "support", None, "faq", "faq", "music", "support", None]
    assert where_rows(joined, "id LIKE '%b.jsonl%' AND genre = 'faq'").tolist() == [5]
    assert corpus_paths([str(tmp_path / "*.parquet")]) == [str(tmp_path / "a.parquet")]


def test_corpora_of_another_model_or_dimension_are_refused(tmp_path):
    write_corpus(tmp_path / "a.parquet", 3, 1)
    write_corpus(tmp_path / "b.parquet", 3, 2, model="other")
    write_corpus(tmp_path / "c.parquet", 3, 3, dim=4)
    with pytest.raises(InputError, match="embedded with other"):
        load_corpora([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    with pytest.raises(InputError, match="4-d vectors"):
        load_corpora([str(tmp_path / "a.parquet"), str(tmp_path / "c.parquet")])
    with pytest.raises(UsageError, match="named twice"):
        corpus_paths([str(tmp_path / "a.parquet"), str(tmp_path / "*.parquet")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no vector files"):
        corpus_paths([str(tmp_path / "empty")])


def test_a_kept_column_that_changes_type_is_one_clear_error(tmp_path):
    first = EmbeddedBatch(["1"], ["a"], np.zeros((1, 2), np.float32), {"n": [1]})
    later = EmbeddedBatch(["2"], ["b"], np.zeros((1, 2), np.float32), {"n": ["two"]})
    target = tmp_path / "v.parquet"
    with (
        pytest.raises(InputError, match="column 'n'"),
        open_vector_writer(str(target), fmt_of(target), Provenance()) as w,
    ):
        w.write(first)
        w.write(later)
    assert not (tmp_path / "v.parquet").exists()
