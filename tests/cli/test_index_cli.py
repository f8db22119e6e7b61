"""`embedcli index` and `similar --index` as users run them: every example of issue 18, checked against exact search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.errors import UsageError
from embedcli.formats.outputs import vector_schema
from embedcli.metrics import Metric, brute_force
from embedcli.provenance import Provenance

pytest.importorskip("faiss")

SEED = 18


def cli(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.stderr
    return result


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_vectors(path: Path, vectors: np.ndarray, provenance: Provenance | None = None) -> Path:
    """A vector Parquet file as `embed` writes it (ids r0, r1, ...)."""
    dim = vectors.shape[1]
    schema = vector_schema(vectors.dtype, dim, False, provenance or Provenance(model="none"))
    ids = pa.array([f"r{i}" for i in range(len(vectors))])
    table = pa.table([ids, pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)], schema=schema)
    pq.write_table(table, path)
    return path


def clustered(rows: int, dim: int, seed: int = SEED) -> np.ndarray:
    """Rows around 40 centres, with some near-duplicates: what embeddings of real texts look like to an index."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, rows)] + 0.35 * rng.standard_normal((rows, dim)).astype(np.float32)
    vectors[1::50] = vectors[::50][: len(vectors[1::50])] + 0.01 * rng.standard_normal((dim,)).astype(np.float32)
    return vectors.astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("index")
    vectors = clustered(1500, 24)
    write_vectors(folder / "vectors.parquet", vectors)
    queries = clustered(30, 24, seed=SEED + 1)
    write_vectors(folder / "questions.parquet", queries)
    return folder, vectors, queries


def hits_of(path: Path) -> list[tuple[str, int, str, float]]:
    return [(h["query"], h["rank"], h["id"], h["score"]) for h in pq.read_table(path).to_pylist()]


def test_index_prints_recall_and_info_shows_the_header(corpus):
    folder, vectors, _ = corpus
    built = cli("index", str(folder / "vectors.parquet"), "-o", str(folder / "vectors.index"), "--threads", "2")
    assert "recall@10" in built.stderr and "1,500 rows indexed by cosine" in built.stderr
    shown = cli("info", str(folder / "vectors.index")).stdout
    assert "metric: cosine" in shown and "precision: f32" in shown and "M 16" in shown and "recall@10 held-out" in shown
    facts = json.loads(cli("info", str(folder / "vectors.index"), "--json").stdout)
    assert facts["rows"] == len(vectors) and facts["dimension"] == vectors.shape[1] and facts["m"] == 16
    assert facts["held_out"]["by_ef"]["512"] >= 0.95 and facts["in_corpus"]["by_ef"]["512"] >= 0.95
    assert not list(folder.glob(".vectors.index.*"))  # no temporary left beside it


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_every_metric_equals_exact_search_at_high_ef(corpus, metric):
    folder, _, _ = corpus
    index = folder / f"{metric}.index"
    cli("index", str(folder / "vectors.parquet"), "-o", str(index), "--metric", metric, "-q")
    common = ["similar", str(folder / "vectors.parquet"), "--queries", str(folder / "questions.parquet"), "-k", "10"]
    cli(*common, "--metric", metric, "--index", str(index), "--ef", "512", "-o", str(folder / "hits.parquet"))
    cli(*common, "--metric", metric, "-o", str(folder / "exact.parquet"))
    assert hits_of(folder / "hits.parquet") == hits_of(folder / "exact.parquet")


def test_near_duplicates_with_threshold_exclude_self(corpus):
    folder, _, _ = corpus
    cli("index", str(folder / "vectors.parquet"), "-o", str(folder / "dupes.index"), "-q")
    common = ["similar", str(folder / "vectors.parquet"), "-k", "5", "--threshold", "0.9"]
    cli(*common, "--index", str(folder / "dupes.index"), "--ef", "512", "-o", str(folder / "dupes.parquet"))
    cli(*common, "-o", str(folder / "dupes-exact.parquet"))
    found = hits_of(folder / "dupes.parquet")
    assert found == hits_of(folder / "dupes-exact.parquet")
    assert found and all(query != hit and score >= 0.9 for query, _, hit, score in found)


def test_int8_graph_prints_exact_scores(corpus):
    folder, _, _ = corpus
    index = folder / "i8.index"
    cli(
        "index", str(folder / "vectors.parquet"), "-o", str(index), "--precision", "i8", "--target-recall", "0.95", "-q"
    )
    assert json.loads(cli("info", str(index), "--json").stdout)["precision"] == "i8"
    common = ["similar", str(folder / "vectors.parquet"), "--queries", str(folder / "questions.parquet"), "-k", "5"]
    cli(*common, "--index", str(index), "--ef", "512", "-o", str(folder / "i8.parquet"))
    cli(*common, "-o", str(folder / "i8-exact.parquet"))
    assert hits_of(folder / "i8.parquet") == hits_of(folder / "i8-exact.parquet")


def refused(*args: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        CliRunner().invoke(app, list(args), catch_exceptions=False)
    return caught.value


def test_a_stale_index_is_refused(tmp_path):
    write_vectors(tmp_path / "vectors.parquet", clustered(300, 8))
    cli("index", str(tmp_path / "vectors.parquet"), "-o", str(tmp_path / "vectors.index"), "-q")
    write_vectors(tmp_path / "vectors.parquet", clustered(300, 8, seed=SEED + 7))  # re-embedded: same name
    stale = refused("similar", str(tmp_path / "vectors.parquet"), "--index", str(tmp_path / "vectors.index"))
    assert "does not match its corpus" in stale.message and "embedcli index" in (stale.hint or "")
    other = refused(
        "similar", str(tmp_path / "vectors.parquet"), "--index", str(tmp_path / "vectors.index"), "--metric", "dot"
    )
    assert "built for cosine" in other.message


def test_an_index_cannot_go_to_stdout_or_over_its_corpus(tmp_path):
    write_vectors(tmp_path / "v.parquet", clustered(50, 8))
    assert "an index output needs a file name" in refused("index", str(tmp_path / "v.parquet"), "-o", "-").message
    assert "refusing" in refused("index", str(tmp_path / "v.parquet"), "-o", str(tmp_path / "v.parquet")).message
    assert "cannot tell" in refused("index", str(tmp_path / "v.parquet"), "-o", str(tmp_path / "v.idx")).message


def assert_same_up_to_ties(found: list[dict], expected: list[dict]) -> None:
    """Same queries, ranks and printed scores; the same ids except among rows whose printed scores are equal (the
    float32 path picks among exact ties by its matmul's last bit, the bf16 path by row)."""
    assert [(h["query"], h["rank"], h["score"]) for h in found] == [
        (h["query"], h["rank"], h["score"]) for h in expected
    ]
    for query in {h["query"] for h in expected}:
        mine = [h for h in found if h["query"] == query]
        theirs = [h for h in expected if h["query"] == query]
        lowest = mine[-1]["score"]
        for score in {h["score"] for h in mine if h["score"] != lowest}:  # the last score's ties may run past k
            assert {h["id"] for h in mine if h["score"] == score} == {h["id"] for h in theirs if h["score"] == score}


@pytest.mark.parametrize("kernel", ["bf16", "int8"])
@pytest.mark.parametrize("k", [pytest.param(1, marks=pytest.mark.slow), 5, pytest.param(10, marks=pytest.mark.slow)])
def test_low_precision_kernels_return_the_float32_paths_hits(tmp_path, monkeypatch, k, kernel):
    """The wired fast exact path (forced, as `--exact-kernel bf16|int8` or EMBEDCLI_EXACT_KERNEL) against today's path
    on random vectors, and against a float64 brute force on near-duplicates (where candidate sets grow, and where
    today's float32 path itself misranks euclidean neighbours: 2q.c - |c|^2 cancels)."""
    pytest.importorskip("torch" if kernel == "bf16" else "onnxruntime")
    rng = np.random.default_rng(SEED + k)
    near = (np.repeat(rng.standard_normal((20, 16)), 40, axis=0) + 1e-3 * rng.standard_normal((800, 16))).astype(
        np.float32
    )
    write_vectors(tmp_path / "random.parquet", rng.standard_normal((900, 16)).astype(np.float32))
    write_vectors(tmp_path / "near.parquet", near)
    for metric in ("cosine", "dot", "euclidean"):
        common = ["-k", str(k), "--metric", metric, "-q", "--format", "jsonl"]
        fast = cli("similar", str(tmp_path / "random.parquet"), *common, "--exact-kernel", kernel).stdout
        monkeypatch.setenv("EMBEDCLI_EXACT_KERNEL", "float32")
        plain = cli("similar", str(tmp_path / "random.parquet"), *common).stdout
        monkeypatch.delenv("EMBEDCLI_EXACT_KERNEL")
        assert_same_up_to_ties(jsonl(fast), jsonl(plain))
        found = jsonl(cli("similar", str(tmp_path / "near.parquet"), *common, "--exact-kernel", kernel).stdout)
        oracle = brute_force(Metric(metric), near, near)
        np.fill_diagonal(oracle, -np.inf)  # every row's neighbours are the other rows
        best = np.sort(oracle, axis=1)[:, ::-1][:, :k]
        shown = Metric(metric).shown(best.astype(np.float32))
        assert np.allclose([h["score"] for h in found], shown.ravel(), rtol=1e-6, atol=1e-7)
        for hit in found:
            row, query = int(hit["id"][1:]), int(hit["query"][1:])
            # a true top-k row, up to float32 rounding (the corpus rows are float32 unit rows for cosine)
            assert oracle[query, row] >= best[query, -1] - 1e-6 * max(1.0, abs(best[query, -1]))


@pytest.mark.slow
def test_store_text_query_and_binary_corpus_through_an_index(tiny_st_dir, tmp_path, sample_sentences):
    """`index kb.lance --precision i8`, a text query with --index, and a binary corpus rescored with --rescore."""
    pytest.importorskip("lance")
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(sample_sentences * 3) + "\n", encoding="utf-8")
    model = ["--model", str(tiny_st_dir), "-q"]
    cli("embed", str(docs), "-o", str(tmp_path / "kb.lance"), *model)
    cli(
        "index",
        str(tmp_path / "kb.lance"),
        "-o",
        str(tmp_path / "kb.index"),
        "--precision",
        "i8",
        "--target-recall",
        "0.95",
        "-q",
    )
    query = ["similar", str(tmp_path / "kb.lance"), "how do I reset my password", "-k", "3", "--format", "jsonl"]
    assert jsonl(cli(*query, "--index", str(tmp_path / "kb.index"), "--ef", "512").stdout) == jsonl(cli(*query).stdout)
    cli("embed", str(docs), "-o", str(tmp_path / "float.parquet"), *model)
    cli("embed", str(docs), "-o", str(tmp_path / "bits.parquet"), "--precision", "ubinary", *model)
    cli("index", str(tmp_path / "bits.parquet"), "-o", str(tmp_path / "bits.index"), "-q")
    assert json.loads(cli("info", str(tmp_path / "bits.index"), "--json").stdout)["metric"] == "hamming"
    rescored = ["similar", str(tmp_path / "bits.parquet"), "password reset", "-k", "3", "--format", "jsonl"]
    rescored += ["--rescore", str(tmp_path / "float.parquet")]
    with_index = jsonl(cli(*rescored, "--index", str(tmp_path / "bits.index"), "--ef", "512").stdout)
    assert with_index == jsonl(cli(*rescored).stdout)
