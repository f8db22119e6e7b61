"""The ANN index: recall on real sentence embeddings, every metric against numpy brute force, the index file."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
from real_sentences import gutenberg_sentences, shipped_model_vectors, stsb_sentences

from embedcli.errors import InputError, UsageError
from embedcli.metrics import Metric, brute_force
from embedcli.search.ann import EF_GRID, AnnPrecision, build_index, corpus_rows, search, tune_ef
from embedcli.search.ann_file import check_matches, fingerprint, load, read_header, save

CORPUS_ROWS = 2500
HELD_OUT_ROWS = 500


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]))


def _top(metric: Metric, queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = brute_force(metric, queries, corpus)
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(scores, rows, 1)


def _clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, d)).astype(np.float32)
    return (centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="session")
def sentences() -> np.ndarray:
    """Unit all-MiniLM-L6-v2 embeddings of 3,000 real sentences (2,500 corpus + 500 held-out queries): half STS-B
    (short captions and headlines), half Gutenberg prose drawn evenly across the novels, shuffled together."""
    half = (CORPUS_ROWS + HELD_OUT_ROWS) // 2
    stsb = stsb_sentences(SHARED_DATA)[:half]
    prose = gutenberg_sentences(SHARED_DATA)
    texts = stsb + prose[:: max(1, len(prose) // half)][:half]
    texts = [texts[i] for i in np.random.default_rng(11).permutation(len(texts))]
    return shipped_model_vectors(texts)


@pytest.fixture(scope="session")
def sentence_index(sentences: np.ndarray):  # type: ignore[no-untyped-def]
    return build_index(sentences[:CORPUS_ROWS], Metric.cosine)


@pytest.mark.slow
def test_recall_at_default_settings_on_real_sentences(sentences: np.ndarray, sentence_index) -> None:  # type: ignore[no-untyped-def]
    corpus, unseen = sentences[:CORPUS_ROWS], sentences[CORPUS_ROWS:]
    header = sentence_index.header
    assert header.ef == tune_ef(sentence_index, 0.95)
    assert header.held_out.at(header.ef) >= 0.95 and header.in_corpus.at(header.ef) >= 0.95
    drawn = corpus[np.random.default_rng(7).choice(CORPUS_ROWS, 500, replace=False)]
    for queries in (unseen, drawn):  # sentences the index never saw, and corpus rows
        rows, scores = search(sentence_index, queries, 10, corpus)
        truth, _ = _top(Metric.cosine, queries, corpus, 10)
        assert _recall(rows, truth) >= 0.95
        exact = brute_force(Metric.cosine, queries, corpus)
        np.testing.assert_allclose(scores, np.take_along_axis(exact, rows, 1), atol=1e-5)
        assert (np.diff(scores, axis=1) <= 0).all()


@pytest.mark.slow
def test_recall_does_not_fall_as_ef_grows(sentences: np.ndarray, sentence_index) -> None:  # type: ignore[no-untyped-def]
    corpus, unseen = sentences[:CORPUS_ROWS], sentences[CORPUS_ROWS:]
    truth, _ = _top(Metric.cosine, unseen, corpus, 10)
    recalls = [_recall(search(sentence_index, unseen, 10, corpus, ef=ef)[0], truth) for ef in (10, 16, 32, 64, 256)]
    assert recalls[0] < 1.0  # the smallest breadth misses some neighbours, so the trend is observable
    assert all(later >= earlier - 0.001 for earlier, later in itertools.pairwise(recalls))
    measured = [sentence_index.header.held_out.at(ef) for ef in EF_GRID]
    assert all(later >= earlier - 0.001 for earlier, later in itertools.pairwise(measured))


@pytest.mark.parametrize("metric", [Metric.cosine, Metric.dot, Metric.euclidean])
@pytest.mark.parametrize("precision", [AnnPrecision.f32, AnnPrecision.f16, AnnPrecision.bf16, AnnPrecision.i8])
def test_every_metric_and_precision_against_brute_force(metric: Metric, precision: AnnPrecision) -> None:
    vectors = _clustered(2100, 32, seed=1)
    corpus, queries = vectors[:2000], vectors[2000:]
    index = build_index(corpus, metric, precision, batch_rows=700)  # three batches: the streaming path
    rows, scores = search(index, queries, 10, corpus, ef=256)
    truth, _ = _top(metric, queries, corpus, 10)
    assert _recall(rows, truth) >= (0.99 if precision is AnnPrecision.f32 else 0.85)
    exact = brute_force(metric, queries, corpus)
    np.testing.assert_allclose(scores, np.take_along_axis(exact, rows, 1), rtol=1e-5, atol=1e-4)
    assert index.header.held_out.at(index.header.ef) >= 0.95 or index.header.ef == EF_GRID[-1]


def test_hamming_on_packed_bits() -> None:
    signs = _clustered(2100, 64, seed=2)
    packed = np.packbits(signs > 0, axis=1)
    corpus, queries = packed[:2000], packed[2000:]
    index = build_index(corpus, Metric.hamming, AnnPrecision.b1)
    assert index.header.dimension == 64
    rows, scores = search(index, queries, 10, corpus, ef=256)
    exact = brute_force(Metric.hamming, signs[2000:], signs[:2000])  # -(differing sign bits)
    np.testing.assert_array_equal(scores, np.take_along_axis(exact, rows, 1).astype(np.float32))
    best = -np.sort(-exact, axis=1)[:, :10]  # distances, not rows: hamming has many exact ties
    assert np.mean((scores == best).all(axis=1)) >= 0.95
    float_rows, _ = search(index, signs[2000:], 10, corpus, ef=256)  # float queries count as their sign bits
    np.testing.assert_array_equal(float_rows, rows)


def test_threshold_and_short_corpus() -> None:
    corpus = _clustered(30, 8, seed=3)
    index = build_index(corpus, Metric.cosine)
    rows, scores = search(index, corpus[:5], 50, corpus, threshold=0.5)
    exact = brute_force(Metric.cosine, corpus[:5], corpus)
    assert rows.shape == (5, 30)  # k is capped at the corpus size
    for i in range(5):
        kept = rows[i][rows[i] >= 0]
        np.testing.assert_array_equal(np.sort(kept), np.flatnonzero(exact[i] >= 0.5))
        assert np.isneginf(scores[i][rows[i] < 0]).all()


def test_streaming_source_needs_its_row_count_and_the_rows_it_announced() -> None:
    corpus = _clustered(500, 16, seed=4)

    def batches():  # type: ignore[no-untyped-def]
        return (corpus[i : i + 128] for i in range(0, 500, 128))

    streamed = build_index(batches, Metric.euclidean, rows=500)
    whole = build_index(corpus, Metric.euclidean, batch_rows=128)
    assert streamed.header == whole.header
    with pytest.raises(UsageError, match="row count"):
        build_index(batches, Metric.euclidean)
    with pytest.raises(UsageError, match="499 were expected"):
        build_index(batches, Metric.euclidean, rows=499)


@pytest.mark.parametrize(
    ("metric", "precision"), [(Metric.hamming, AnnPrecision.f32), (Metric.cosine, AnnPrecision.b1)]
)
def test_metric_and_precision_must_agree(metric: Metric, precision: AnnPrecision) -> None:
    with pytest.raises(UsageError, match="cannot use precision"):
        build_index(_clustered(100, 16, seed=5), metric, precision)


def test_tune_ef_picks_the_smallest_ef_reaching_the_target() -> None:
    corpus = _clustered(2000, 32, seed=6)
    index = build_index(corpus, Metric.cosine, ef=40)
    assert index.header.ef == 40
    for target in (0.5, 0.9, 0.99, 1.01):
        reached = [e for e in EF_GRID if min(index.header.held_out.at(e), index.header.in_corpus.at(e)) >= target]
        assert tune_ef(index, target, margin=1) == (reached[0] if reached else EF_GRID[-1])
        assert tune_ef(index, target) == (min(2 * reached[0], EF_GRID[-1]) if reached else EF_GRID[-1])


def test_save_load_round_trip(tmp_path: Path) -> None:
    corpus = _clustered(1500, 24, seed=8)
    path = tmp_path / "corpus.npy"
    np.save(path, corpus)
    mapped = np.load(path, mmap_mode="r")
    index = build_index(mapped, Metric.cosine, AnnPrecision.f16, fingerprint=fingerprint(mapped, path).to_json())
    save(index, tmp_path / "c.index")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.index", "corpus.npy"]  # no temporary file left
    for mmap in (True, False):
        loaded = load(tmp_path / "c.index", mmap=mmap)
        assert loaded.header == index.header == read_header(tmp_path / "c.index")
        for got, want in zip(
            search(loaded, corpus[:40], 7, mapped), search(index, corpus[:40], 7, mapped), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    binary = build_index(np.packbits(corpus > 0, axis=1), Metric.hamming, AnnPrecision.b1)
    save(binary, tmp_path / "b.index")
    assert load(tmp_path / "b.index").header == binary.header
    (tmp_path / "junk.index").write_bytes(b"not an index at all")
    with pytest.raises(InputError, match="not an embedcli index"):
        load(tmp_path / "junk.index")


def test_a_stale_index_is_refused(tmp_path: Path) -> None:
    corpus = _clustered(800, 16, seed=9)
    index = build_index(corpus, Metric.dot, fingerprint=fingerprint(corpus, None).to_json())
    check_matches(index, fingerprint(corpus.copy()))  # same vectors: accepted
    changed = corpus.copy()
    changed[0, 3] += 1e-3
    grown = np.vstack([corpus, corpus[:1]])
    for stale, why in ((changed, "vectors changed"), (grown, "rows was 800, is now 801"), (corpus[:, :8], "dimension")):
        with pytest.raises(UsageError, match=why) as caught:
            check_matches(index, fingerprint(np.ascontiguousarray(stale)))
        assert "\n" not in caught.value.message and "embedcli index" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="dtype"):
        check_matches(index, fingerprint(corpus.astype(np.float16)))
    with pytest.raises(UsageError, match="no corpus fingerprint"):
        check_matches(build_index(corpus, Metric.dot), fingerprint(corpus))


def test_corpus_rows_maps_insertion_order_back_to_rows() -> None:
    held = np.array([0, 3, 4, 9])
    inserted = np.array([r for r in range(10) if r not in held] + list(held))  # the graph's order
    labels = np.array([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, -1, 2]])
    np.testing.assert_array_equal(corpus_rows(labels, held, 10), np.where(labels < 0, -1, inserted[labels]))
    np.testing.assert_array_equal(corpus_rows(np.arange(5), np.empty(0, np.int64), 5), np.arange(5))
