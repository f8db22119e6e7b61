"""`similar --index`: queries answered by an HNSW index file, with exact scores, checked against its corpus.

The graph's candidates are corpus row numbers; their scores are exact (`ann.search`: the f32 graph's own float32
scores, the stored bits' hamming distances, or rescored from the corpus vectors for f16/bf16/i8 graphs). Pairs
that must not be hits (a row searched against itself, `--exclude-self`, analogy words) are dropped from a slightly
larger candidate list, so each query still gets k hits where the graph finds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import UsageError
from embedcli.metrics import Metric, exact, prepare
from embedcli.search import ann, ann_file
from embedcli.search.corpus import Corpus
from embedcli.search.index_run import corpus_fingerprint, default_threads, graph_batch
from embedcli.search.queries import Queries
from embedcli.search.top_k import QueryHits

QUERY_CHUNK = 1024  # queries searched together (and reported together)
QUANTIZED_FACTOR = 4  # candidates per hit taken from an f16/bf16/i8 graph, all rescored exactly


class _Floats:
    """The corpus's decoded float32 rows by index, for rescoring an f16/bf16/i8 graph's candidates."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.corpus.floats(rows)


def open_index(path: str, corpus: Corpus, corpus_path: str, version: int | None, metric: Metric) -> ann.AnnIndex:
    """Load the index at `path` (memory-mapped) after checking it was built from `corpus` for `metric`.

    Raises UsageError (one line and the fix) for a stale index or another metric; InputError for a file that is
    not an index.
    """
    header = ann_file.read_header(path)
    if header.metric is not metric:
        raise UsageError(
            f"{path} was built for {header.metric.value}, not {metric.value}",
            hint=f"drop --metric, or rebuild it: embedcli index {corpus_path} --metric {metric.value} -o {path}",
        )
    built = ann.AnnIndex(None, header)
    ann_file.check_matches(built, corpus_fingerprint(corpus, corpus_path, version))
    return ann_file.load(path)


def indexed_search(
    index: ann.AnnIndex,
    corpus: Corpus,
    queries: Queries,
    k: int,
    ef: int | None = None,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    min_score: float | None = None,
) -> Iterator[QueryHits]:
    """The k best rows of each query by the graph, best first, with exact internal scores; lazily, a chunk at a time.

    `exclude` (query numbers, corpus rows), sorted by query, are never hits; `min_score` (internal scale) drops
    weaker hits. Query vectors are float rows (or the corpus's own rows when `queries.every_row`).
    """
    metric = index.header.metric
    n = len(corpus)
    query_of, row_of = exclude if exclude is not None else (np.empty(0, np.int64), np.empty(0, np.int64))
    most = int(np.bincount(exclude[0]).max()) if exclude is not None and len(exclude[0]) else 0
    wanted = min(k + most, n)
    if index.header.precision not in (ann.AnnPrecision.f32, ann.AnnPrecision.b1):
        wanted = min(wanted * QUANTIZED_FACTOR, n)  # quantized distances misorder near ties: rescoring decides
    floats: Any = _Floats(corpus)
    threads = default_threads()
    total = len(queries.labels)
    for start in range(0, total, QUERY_CHUNK):
        span = slice(start, min(start + QUERY_CHUNK, total))
        chunk = graph_batch(corpus, metric, span) if queries.vectors is None else queries.vectors[span]
        rows, scores = ann.search(index, chunk, wanted, floats, ef=ef, threads=threads)
        if metric is not Metric.hamming:  # the graph's float32 scores, made the exact path's to the last bit
            own = queries.vectors is None
            prepared = (
                _prepared_rows(corpus, metric, np.arange(span.start, span.stop)) if own else prepare(metric, chunk)
            )
            rows, scores = _as_exact(corpus, metric, prepared, rows)
        numbers = np.arange(span.start, span.stop, dtype=np.int64)[:, None]
        lo, hi = np.searchsorted(query_of, [span.start, span.stop])  # this chunk's pairs (sorted by query)
        keep = (rows >= 0) & ~np.isin(numbers * n + rows, query_of[lo:hi] * n + row_of[lo:hi])
        if min_score is not None:
            keep &= scores >= np.float32(min_score)
        for i in range(len(rows)):
            mine = keep[i]
            yield QueryHits(span.start + i, rows[i][mine][:k], scores[i][mine][:k])


def _prepared_rows(corpus: Corpus, metric: Metric, rows: np.ndarray) -> np.ndarray:
    """Corpus rows prepared for `metric` exactly as `top_k.SearchCorpus` prepares them (same float32 bits)."""
    floats = corpus.floats(rows)
    if metric is not Metric.cosine:
        return floats
    norms = np.linalg.norm(floats, axis=1, keepdims=True)
    norms = np.where(norms == 0, 1, norms)
    if corpus.owned:  # normalised in place, by division (`metrics.normalize_in_place`)
        return floats / norms
    return floats * (1 / norms).astype(np.float32)  # scaled by precomputed inverse lengths


def _as_exact(corpus: Corpus, metric: Metric, queries: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of the graph's candidates for prepared `queries` (`metrics.exact`, as the exact path scores its
    hits), re-ranked (score, then row); missing slots stay row -1, score -inf."""
    found = rows >= 0
    unique, inverse = np.unique(np.where(found, rows, 0), return_inverse=True)  # sorted: memory maps read in order
    picked = _prepared_rows(corpus, metric, unique)[inverse.reshape(rows.shape)]
    scores = np.where(found, exact(metric, queries, picked), -np.inf).astype(np.float32)
    order = np.lexsort((np.where(found, rows, np.iinfo(np.int64).max), -scores), axis=1)
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)


def index_metric(path: str | Path) -> Metric:
    """The metric an index file was built for (read from its header alone)."""
    return ann_file.read_header(path).metric
