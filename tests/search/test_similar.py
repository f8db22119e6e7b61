"""Search against brute-force numpy for every metric; corpora of every precision; word queries against gensim."""

from __future__ import annotations

import os

import numpy as np
import pytest

from embedcli.errors import InputError
from embedcli.formats.vector_files import release_pages
from embedcli.metrics import Metric, brute_force, prepare
from embedcli.precision import Precision, calibration_ranges, quantize
from embedcli.provenance import Provenance
from embedcli.records import VectorTable
from embedcli.search import top_k as search_module
from embedcli.search.analogies import analogy_queries, cosmul_hits, pair_hits
from embedcli.search.corpus import Corpus, _table_corpus, load_corpus
from embedcli.search.neighbours import find_similar
from embedcli.search.queries import Queries, every_row, word_queries
from embedcli.search.top_k import SearchCorpus, search

SEED = 1234


def expected_top(all_scores: np.ndarray, k: int) -> np.ndarray:
    """Brute-force ranking: score descending, then lower row first."""
    return np.lexsort((np.arange(len(all_scores)), -all_scores))[:k]


def assert_matches_oracle(hits, oracle: np.ndarray, k: int, tol: float = 1e-4) -> None:
    """Each hit list has the oracle's k best scores, and each returned row really has the score at its rank."""
    hits = list(hits)
    assert [h.query for h in hits] == list(range(len(oracle)))
    for hit in hits:
        best = np.sort(oracle[hit.query])[::-1][: min(k, oracle.shape[1])]
        assert len(hit.rows) == len(best) and len(set(hit.rows.tolist())) == len(best)
        np.testing.assert_allclose(oracle[hit.query][hit.rows], best, rtol=tol, atol=tol)
        np.testing.assert_allclose(hit.scores, best, rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((1003, 16)).astype(np.float32), rng.standard_normal((37, 16)).astype(np.float32)


@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("k", [1, 10, 5000])
@pytest.mark.parametrize("block_rows", [7, 100, 700, None])
def test_top_k_equals_brute_force(data, metric, k, block_rows):
    corpus, queries = data
    found = search(
        prepare(metric, queries), SearchCorpus(corpus.copy(), metric), k, block_rows=block_rows, query_chunk=10
    )
    assert_matches_oracle(found, brute_force(metric, queries, corpus), k)


@pytest.mark.parametrize("metric", list(Metric))
def test_memory_mapped_corpus_equals_in_memory(data, metric, tmp_path):
    corpus, queries = data
    np.save(tmp_path / "c.npy", corpus)
    mapped = np.load(tmp_path / "c.npy", mmap_mode="r")
    a = list(search(prepare(metric, queries), SearchCorpus(mapped, metric), 5, block_rows=64))
    b = list(search(prepare(metric, queries), SearchCorpus(corpus.copy(), metric, owned=True), 5))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.rows, y.rows)
        np.testing.assert_allclose(x.scores, y.scores, rtol=1e-5, atol=1e-5)


def _resident_kib(array: np.ndarray) -> int:
    """Resident KiB of the memory mapping that holds `array` (from /proc/self/smaps)."""
    address, mapping = array.ctypes.data, None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                low, high = (int(x, 16) for x in head.split("-"))
                mapping = low <= address < high
            elif head == "Rss:" and mapping:
                return int(line.split()[1])
    raise AssertionError("mapping not found")


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
@pytest.mark.parametrize("metric", [Metric.cosine, Metric.dot, Metric.euclidean])
def test_a_mapped_corpus_does_not_stay_resident_after_search(metric, tmp_path):
    """Scanning a memory-mapped corpus hands each block's pages back: memory stays bounded, results unchanged."""
    corpus = np.random.default_rng(SEED).standard_normal((8192, 256)).astype(np.float32)  # 8 MiB
    queries = corpus[:5] + 0.01
    np.save(tmp_path / "c.npy", corpus)
    mapped = np.load(tmp_path / "c.npy", mmap_mode="r")
    assert float(mapped.sum(dtype=np.float64)) == pytest.approx(float(corpus.sum(dtype=np.float64)))
    assert _resident_kib(mapped) > 7 * 1024  # reading it made it resident
    hits = list(search(prepare(metric, queries), SearchCorpus(mapped, metric), 3, block_rows=2000))
    # What stays: pages the kernel maps around each fault (up to 64 KiB a block) and rows the final scores read.
    assert _resident_kib(mapped) < 2 * 1024
    assert [h.rows[0] for h in hits] == list(range(5))
    np.testing.assert_array_equal(np.asarray(mapped), corpus)  # released pages read back unchanged


def test_releasing_pages_leaves_arrays_in_memory_alone():
    array = np.arange(1 << 20, dtype=np.float32)
    release_pages(array)
    release_pages(array[10:1000])
    np.testing.assert_array_equal(array, np.arange(1 << 20, dtype=np.float32))


@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("block_rows", [3, 8, 1000])
def test_ties_rank_the_lower_row_first(metric, block_rows):
    # Scaled one-hot rows: every metric's scores are exact, and rows 2, 5, 9, 11 tie with each other.
    rows = [0, 1, 2, 0, 1, 2, 3, 1, 0, 2, 3, 2]
    corpus = np.zeros((len(rows), 4), dtype=np.float32)
    corpus[np.arange(len(rows)), rows] = 2.0
    queries = np.array([[0, 0, 3, 0], [1, 1, 1, 1]], dtype=np.float32)
    hits = list(search(prepare(metric, queries), SearchCorpus(corpus, metric), 6, block_rows=block_rows))
    oracle = brute_force(metric, queries, corpus)
    for hit in hits:
        np.testing.assert_array_equal(hit.rows, expected_top(oracle[hit.query], 6))


def test_small_score_blocks_give_the_same_hits(data, monkeypatch):
    corpus, queries = data
    monkeypatch.setattr(search_module, "BLOCK_BYTES", 4 * 37 * 50)  # blocks of 50 rows
    found = search(prepare(Metric.cosine, queries), SearchCorpus(corpus.copy(), Metric.cosine), 10)
    assert_matches_oracle(found, brute_force(Metric.cosine, queries, corpus), 10)


def table_corpus(vectors: np.ndarray, metadata: dict | None = None, texts=None) -> Corpus:
    ids = [f"r{i}" for i in range(len(vectors))]
    return _table_corpus(
        VectorTable(ids=ids, vectors=vectors, texts=texts, provenance=Provenance.from_dict(metadata)), "test"
    )


@pytest.mark.parametrize("metric", [Metric.cosine, Metric.euclidean])
def test_every_row_excludes_itself(data, metric):
    corpus, _ = data
    table = table_corpus(corpus[:200].copy())
    hits, _ = find_similar(table, every_row(table), metric, 3)
    oracle = brute_force(metric, corpus[:200], corpus[:200])
    np.fill_diagonal(oracle, -np.inf)
    by_query: dict[str, list[str]] = {}
    for hit in hits:
        by_query.setdefault(hit.query, []).append(hit.id)
    for i in range(200):
        assert by_query[f"r{i}"] == [f"r{j}" for j in expected_top(oracle[i], 3)]


def test_threshold_keeps_close_hits_only(data):
    corpus, queries = data
    table = table_corpus(corpus.copy())
    hits, _ = find_similar(table, Queries(["q"], queries[:1]), Metric.euclidean, 50, threshold=4.0)
    distances = -brute_force(Metric.euclidean, queries[:1], corpus)[0]
    hits = list(hits)
    assert len(hits) == min(50, int((distances <= 4.0).sum()))
    assert all(h.score <= 4.0 for h in hits) and [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_bad_rows_are_skipped_with_a_warning_and_bad_queries_refused(data):
    corpus, queries = data
    vectors = corpus[:50].copy()
    vectors[3, 2] = np.nan
    vectors[7] = 0
    vectors[9, 0] = np.inf
    table = table_corpus(vectors)
    hits, warnings = find_similar(table, Queries(["q"], queries[:1]), Metric.cosine, 50)
    ids = {h.id for h in hits}
    assert ids.isdisjoint({"r3", "r7", "r9"}) and len(ids) == 47
    assert any("'r3'" in w and "'r9'" in w and "NaN" in w for w in warnings)
    assert any("'r7'" in w and "zeros" in w for w in warnings)
    with pytest.raises(InputError, match="all-zero"):
        find_similar(table, Queries(["empty"], np.zeros((1, 16), np.float32)), Metric.cosine, 3)


def test_int8_corpus_is_searched_as_the_values_it_stands_for(data):
    corpus, queries = data
    ranges = calibration_ranges(corpus)
    stored = quantize(corpus, Precision.int8, ranges)
    table = table_corpus(stored, {"precision": "int8", "quantization_ranges": ranges.tolist()})
    from embedcli.precision import dequantize

    decoded = dequantize(stored, Precision.int8, ranges)
    hits, _ = find_similar(table, Queries([str(i) for i in range(37)], queries), Metric.cosine, 5)
    oracle = brute_force(Metric.cosine, queries, decoded)
    got = [h for h in hits if h.rank == 1]
    assert [h.id for h in got] == [f"r{expected_top(o, 1)[0]}" for o in oracle]
    # and the quantized search finds mostly the float32 neighbours
    exact = brute_force(Metric.cosine, queries, corpus)
    agree = np.mean([h.id == f"r{expected_top(o, 1)[0]}" for h, o in zip(got, exact, strict=True)])
    assert agree > 0.8
    with pytest.raises(InputError, match="calibration ranges"):
        table_corpus(stored, {"precision": "int8"})


def test_binary_corpus_defaults_to_hamming_over_the_stored_bits(data):
    corpus, queries = data
    stored = quantize(corpus, Precision.ubinary)
    table = table_corpus(stored, {"precision": "ubinary", "dimension": 16})
    assert table.precision.is_packed and table.dimension == 16
    hits, _ = find_similar(table, Queries([str(i) for i in range(37)], queries), Metric.hamming, 4)
    oracle = brute_force(Metric.hamming, queries, corpus)
    hits = list(hits)
    for q in range(37):
        mine = [h for h in hits if h.query == str(q)]
        assert [h.id for h in mine] == [f"r{j}" for j in expected_top(oracle[q], 4)]
        assert [h.score for h in mine] == [-oracle[q][j] for j in expected_top(oracle[q], 4)]


# --- word vectors against gensim -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def words(word2vec_bin):
    corpus = load_corpus(str(word2vec_bin))
    assert corpus.words is not None
    return corpus


def _close_to_gensim(hits, expected, tol=1e-5):
    hits = list(hits)
    assert len(hits) == len(expected)
    gensim_scores = dict(expected)
    for hit, (word, score) in zip(hits, expected, strict=True):
        assert hit.score == pytest.approx(score, abs=tol)
        # A near-tie may order either way, but the id must still be one gensim ranks with (nearly) that score.
        assert hit.id == word or abs(gensim_scores.get(hit.id, float("inf")) - hit.score) < tol


@pytest.mark.parametrize("word", ["elizabeth", "sister", "house"])
def test_word_neighbours_equal_gensim_most_similar(words, word):
    hits, _ = find_similar(words, word_queries(words, [word]), Metric.cosine, 10)
    _close_to_gensim(hits, words.words.most_similar(word, topn=10))


def test_analogies_equal_gensim(words):
    pos, neg = ["sister", "man"], ["woman"]
    hits, _ = find_similar(words, analogy_queries(words, pos, neg), Metric.cosine, 10)
    _close_to_gensim(hits, words.words.most_similar(positive=pos, negative=neg, topn=10))
    _close_to_gensim(
        cosmul_hits(words, pos, neg, 10), words.words.most_similar_cosmul(positive=pos, negative=neg, topn=10)
    )


def test_pairs_equal_gensim_similarity(words):
    found = list(pair_hits(words, [("sister", "brother"), ("man", "house")], Metric.cosine))
    assert [h.score for h in found] == pytest.approx(
        [words.words.similarity("sister", "brother"), words.words.similarity("man", "house")], abs=1e-6
    )
    with pytest.raises(InputError, match="not in the vocabulary"):
        list(pair_hits(words, [("sister", "zzzzqx")], Metric.cosine))


def test_binary_search_rescored_with_the_float_originals(data):
    from embedcli.search.neighbours import Rescoring

    corpus, queries = data
    table = table_corpus(quantize(corpus, Precision.binary), {"precision": "binary", "dimension": 16})
    original = table_corpus(corpus.copy())
    labels = [str(i) for i in range(37)]
    hits, _ = find_similar(
        table, Queries(labels, queries), Metric.hamming, 3, rescore=Rescoring(original, Metric.cosine)
    )
    hits = list(hits)
    hamming, cosine = brute_force(Metric.hamming, queries, corpus), brute_force(Metric.cosine, queries, corpus)
    for q in range(37):  # oracle: the 12 best by hamming (RESCORE_FACTOR x k), ranked by their float cosine
        candidates = expected_top(hamming[q], 12)
        best = candidates[np.lexsort((candidates, -cosine[q][candidates]))][:3]
        mine = [h for h in hits if h.query == str(q)]
        assert [h.id for h in mine] == [f"r{j}" for j in best]
        assert [h.score for h in mine] == pytest.approx(cosine[q][best], abs=1e-5)


@pytest.mark.parametrize("fmt", ["parquet", "arrows"])
@pytest.mark.parametrize("metric", [Metric.cosine, Metric.euclidean])
def test_streamed_corpus_equals_the_corpus_read_whole(data, tmp_path, fmt, metric):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus, queries = data
    corpus = corpus.copy()
    corpus[11] = np.nan  # validation works a batch at a time too
    schema_meta = {b"embedcli": b'{"model": "none", "precision": "float32"}'}
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(len(corpus))],
            "text": [f"t{i}" for i in range(len(corpus))],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(corpus.ravel()), 16),
        }
    ).replace_schema_metadata(schema_meta)
    path = tmp_path / f"c.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=97)
    else:
        with pa.ipc.new_stream(str(path), table.schema) as writer:
            for batch in table.to_batches(max_chunksize=101):
                writer.write_batch(batch)
    whole, streamed = load_corpus(str(path), stream=False), load_corpus(str(path), stream=True)
    assert not isinstance(streamed.vectors, np.ndarray) and streamed.texts == whole.texts
    for queries_of in (lambda c: Queries([str(i) for i in range(37)], queries), every_row):
        a, warn_a = find_similar(whole, queries_of(whole), metric, 4)
        b, warn_b = find_similar(streamed, queries_of(streamed), metric, 4)
        assert list(a) == list(b) and warn_a == warn_b and "'r11'" in warn_a[0]


@pytest.mark.parametrize("k", [1, 10, 300])
def test_doubling_blocks_over_a_larger_corpus(k):
    rng = np.random.default_rng(SEED)
    corpus = rng.standard_normal((9000, 8)).astype(np.float32)
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    for block_rows in (None, 3000):  # blocks of 2048, 4096, then the rest (or up to 3000)
        found = search(prepare(Metric.dot, queries), SearchCorpus(corpus, Metric.dot), k, block_rows=block_rows)
        assert_matches_oracle(found, brute_force(Metric.dot, queries, corpus), k)
