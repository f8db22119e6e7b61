"""Each row's nearest other rows: the exact k-nearest-neighbour graph of a matrix, by the blocked top-k search."""

from __future__ import annotations

import numpy as np

from embedcli.metrics import Metric, prepare
from embedcli.search.top_k import NO_ROW, SearchCorpus, search


def knn_graph(vectors: np.ndarray, k: int, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows of every row of `vectors` (n, dim) float, self excluded, best first.

    Returns indices (n, k) int64 and internal scores (n, k) float32 (higher is better: similarities, or negated
    distances; `Metric.shown` turns them into what users read). Requires n > k >= 1; a row with fewer than k
    eligible neighbours (duplicates of NaN rows) is padded with NO_ROW and -inf.
    """
    n = len(vectors)
    if not 0 < k < n:
        raise ValueError(f"a {k}-nearest-neighbour graph needs more than {k} rows; got {n}")
    floats = np.ascontiguousarray(vectors, dtype=np.float32)
    corpus = SearchCorpus(floats, metric)
    queries = prepare(metric, floats)
    every = np.arange(n, dtype=np.int64)
    indices = np.full((n, k), NO_ROW, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    for hits in search(queries, corpus, k, exclude=(every, every)):
        indices[hits.query, : len(hits.rows)] = hits.rows
        scores[hits.query, : len(hits.scores)] = hits.scores
    return indices, scores
