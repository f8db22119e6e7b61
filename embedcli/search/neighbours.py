"""Queries against a corpus, searched exactly: hits streamed query by query, optionally rescored with float
originals of a quantized corpus."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from embedcli.errors import InputError
from embedcli.metrics import Metric, exact, prepare
from embedcli.search.corpus import Corpus
from embedcli.search.queries import Queries, check_queries
from embedcli.search.top_k import NO_ROW, QueryHits, SearchCorpus, search


class Hit(NamedTuple):
    """One line of output: the query (its text, word or id), the rank from 1, the corpus row's id, score, text."""

    query: str
    rank: int
    id: str
    score: float
    text: str | None


class _CorpusRows:
    """The corpus rows as prepared queries, sliced a chunk at a time (no second copy of the corpus)."""

    def __init__(self, corpus: SearchCorpus) -> None:
        self.corpus = corpus

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, span: slice) -> np.ndarray:
        return self.corpus.rows_at(np.arange(len(self.corpus))[span])


RESCORE_FACTOR = 4  # candidates kept per hit when rescoring quantized search with the float originals


@dataclass(frozen=True)
class Rescoring:
    """Float originals of a quantized corpus (same rows), and the metric to rescore candidates with."""

    original: Corpus
    metric: Metric


def find_similar(
    corpus: Corpus,
    queries: Queries,
    metric: Metric,
    k: int,
    threshold: float | None = None,
    exclude_self: bool = False,
    rescore: Rescoring | None = None,
) -> tuple[Iterator[Hit], list[str]]:
    """Validate, then search lazily: hits come query by query, best first. Returns (hits, warnings).

    With `rescore`, the search keeps RESCORE_FACTOR x k candidates in the corpus's own precision, then ranks them
    by their exact scores on the float originals (`rescore.metric`, whose scale the hits and threshold use).
    """
    check_queries(queries, metric)
    searchable, warnings = corpus.searchable(metric)
    warnings = corpus.notes + warnings
    exclude = _exclusions(corpus, queries, exclude_self)
    prepared = _CorpusRows(searchable) if queries.vectors is None else prepare(metric, queries.vectors)
    final = rescore.metric if rescore else metric
    min_score = final.internal(threshold) if threshold is not None else None
    if rescore is None:
        found = search(prepared, searchable, k, exclude=exclude, min_score=min_score)  # type: ignore[arg-type]
    else:
        candidates = search(prepared, searchable, k * RESCORE_FACTOR, exclude=exclude)  # type: ignore[arg-type]
        found = _rescored(candidates, corpus, queries, rescore, k, min_score)
    return _hits(found, corpus, queries, final), warnings


def _exclusions(corpus: Corpus, queries: Queries, exclude_self: bool) -> tuple[np.ndarray, np.ndarray] | None:
    pairs = list(queries.exclude)
    if exclude_self and not queries.every_row:
        pairs += _same_rows(corpus, queries)
    query = np.array([q for q, _ in pairs], dtype=np.int64)
    row = np.array([r for _, r in pairs], dtype=np.int64)
    if queries.every_row:
        query = np.concatenate([query, np.arange(len(corpus))])
        row = np.concatenate([row, np.arange(len(corpus))])
    if not len(query):
        return None
    order = np.lexsort((row, query))
    return query[order], row[order]


def _rescored(
    found: Iterator[QueryHits],
    corpus: Corpus,
    queries: Queries,
    rescore: Rescoring,
    k: int,
    min_score: float | None,
) -> Iterator[QueryHits]:
    original = rescore.original
    if len(original) != len(corpus) or original.dimension != corpus.dimension:
        raise InputError(
            f"{original.name} ({len(original):,} x {original.dimension}) is not the original of "
            f"{corpus.name} ({len(corpus):,} x {corpus.dimension})"
        )
    floats = SearchCorpus(original.vectors, rescore.metric, original.decode)
    for hits in found:
        if queries.vectors is None:
            vector = original.floats(np.array([hits.query]))
        else:
            vector = queries.vectors[hits.query : hits.query + 1]
        query = prepare(rescore.metric, vector)
        scores = exact(rescore.metric, query, floats.rows_at(hits.rows[None, :]))[0]
        order = np.lexsort((hits.rows, -scores))[:k]
        rows, scores = hits.rows[order], scores[order]
        keep = scores >= np.float32(min_score) if min_score is not None else np.ones(len(rows), bool)
        yield QueryHits(hits.query, rows[keep], scores[keep])


def _same_rows(corpus: Corpus, queries: Queries) -> list[tuple[int, int]]:
    """(query, row) pairs where the row is the query itself: the same id (vector queries) or the same text."""
    keys = queries.ids if queries.ids is not None else queries.labels
    by_key: dict[str, list[int]] = {}
    for row, key in enumerate(corpus.ids):
        by_key.setdefault(key, []).append(row)
    for row, text in enumerate(corpus.texts or []):
        if text is not None:
            by_key.setdefault(text, []).append(row)
    return [(q, row) for q, key in enumerate(keys) for row in by_key.get(key, [])]


def _hits(found: Iterator[QueryHits], corpus: Corpus, queries: Queries, metric: Metric) -> Iterator[Hit]:
    texts = corpus.texts
    for result in found:
        label = queries.labels[result.query]
        shown = metric.shown(result.scores)
        for rank, (row, score) in enumerate(zip(result.rows.tolist(), shown.tolist(), strict=True), start=1):
            if row == NO_ROW:
                continue
            shown_score = float(f"{score:.7g}")  # float32 carries about 7 significant digits
            yield Hit(label, rank, corpus.ids[row], shown_score, texts[row] if texts is not None else None)
