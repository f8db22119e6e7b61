"""Exact search through `fast_exact`'s certified bf16 pass, streamed as `top_k.search` streams: query by query."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from embedcli.metrics import exact
from embedcli.search.fast_exact import QUERY_CHUNK, LowCorpus, top_k_fast
from embedcli.search.top_k import QueryHits


def fast_search(
    queries: np.ndarray,
    corpus: LowCorpus,
    k: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    min_score: float | None = None,
) -> Iterator[QueryHits]:
    """The k best rows of every query, best first, with the float32 path's scores and order; a chunk at a time.

    `queries` are prepared float32 rows (`metrics.prepare`), `exclude` (query numbers, corpus rows) sorted by query,
    `min_score` on the internal scale. Same contract as `top_k.search`.
    """
    k = max(1, min(k, len(corpus)))
    query_of, row_of = exclude if exclude is not None else (np.empty(0, np.int64), np.empty(0, np.int64))
    for start in range(0, len(queries), QUERY_CHUNK):
        chunk = np.array(queries[start : start + QUERY_CHUNK], dtype=np.float32)  # a writable copy, as torch wants
        lo, hi = np.searchsorted(query_of, [start, start + len(chunk)])
        pairs = (query_of[lo:hi] - start, row_of[lo:hi])
        rows, scores = top_k_fast(chunk, corpus, k, corpus.metric, exclude=pairs)
        rows, scores = _as_top_k(corpus, chunk, rows, scores)
        for i in range(len(chunk)):
            keep = (rows[i] >= 0) & np.isfinite(scores[i])
            if min_score is not None:
                keep &= scores[i] >= np.float32(min_score)
            yield QueryHits(start + i, rows[i][keep], scores[i][keep])


def _as_top_k(corpus: LowCorpus, chunk: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """The hits scored by `metrics.exact` and ordered (score, then row), exactly as `top_k.search` finishes them.

    Both are exact; they can differ in the last bit (euclidean: a float32 or a float64 difference), so the hits
    are scored once more the way the streaming path scores them: every kernel prints the same numbers.
    """
    found = rows >= 0
    picked = np.asarray(corpus.vectors[np.where(found, rows, 0).ravel()], dtype=np.float32)
    again = exact(corpus.metric, chunk, picked.reshape(*rows.shape, -1))
    scores = np.where(found, again, scores)
    order = np.lexsort((np.where(found, rows, np.iinfo(np.int64).max), -scores), axis=1)
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)
