"""fast_exact on real sentence embeddings (STS-B, the shipped all-MiniLM-L6-v2): the float64 oracle's exact top k."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import SHARED_DATA
from real_sentences import shipped_model_vectors

from embedcli.metrics import Metric, prepare
from embedcli.search.fast_exact import KERNELS, SearchStats, top_k_fast

DATA = SHARED_DATA / "stsbenchmark"


@pytest.fixture(scope="module")
def sentence_vectors() -> np.ndarray:
    """About 2,000 distinct STS-B sentences embedded once with the shipped model (not normalised)."""
    if not (DATA / "sts-train.csv").exists():
        pytest.skip("the STS-B data is not here")
    sentences: list[str] = []
    with open(DATA / "sts-train.csv", encoding="utf-8") as rows:
        for row in csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE):
            sentences.extend(row[5:7])
            if len(sentences) >= 2_000:
                break
    return shipped_model_vectors(sentences, normalize=False, batch_size=64)  # keeps duplicate sentences: ties


def oracle(metric: Metric, queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    q, c = queries.astype(np.float64), corpus.astype(np.float64)
    scores = -np.sqrt(((q[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)) if metric is Metric.euclidean else q @ c.T
    scores = scores.astype(np.float32)
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, 1)


@pytest.mark.slow
@pytest.mark.parametrize("metric", [Metric.cosine, Metric.dot, Metric.euclidean])
def test_real_embeddings_every_k(sentence_vectors: np.ndarray, metric: Metric) -> None:
    corpus = prepare(metric, sentence_vectors)
    queries = corpus[::25] + np.float32(0.0)  # in-corpus queries: each finds itself and its near-paraphrases
    expected_rows, expected_scores = oracle(metric, queries, corpus, 30)
    for kernel in KERNELS:
        stats = SearchStats()
        for k in [*range(1, 13), 20, 30]:
            rows, scores = top_k_fast(queries, corpus, k, metric, kernel=kernel, block_rows=512, stats=stats)
            np.testing.assert_array_equal(scores, expected_scores[:, :k])
            np.testing.assert_array_equal(rows, expected_rows[:, :k])
        assert stats.candidates > 0
    crowded = SearchStats()
    rows, scores = top_k_fast(
        queries, corpus, 10, metric, kernel="bf16", block_rows=512, max_candidates=3, stats=crowded
    )
    assert crowded.fallbacks > 0
    np.testing.assert_array_equal(scores, expected_scores[:, :10])
    np.testing.assert_array_equal(rows, expected_rows[:, :10])
