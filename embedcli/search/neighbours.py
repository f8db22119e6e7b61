"""Queries against a corpus, searched exactly: hits streamed query by query, optionally rescored with float
originals of a quantized corpus."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.metrics import Metric, exact, prepare
from embedcli.search.corpus import CHUNK_COLUMNS, Corpus
from embedcli.search.kernel_choice import choose_kernel
from embedcli.search.queries import Queries, check_queries
from embedcli.search.top_k import NO_ROW, QueryHits, SearchCorpus, search


class Hit(NamedTuple):
    """One line of output: the query (its text, word or id), the rank from 1, the corpus row's id, score, text;
    `span` (document id, start, end) when the corpus rows are chunks of documents (`embed --chunk`); `columns`
    the row's values of the corpus columns asked for (`hit_columns`: e.g. those `embed --keep-columns` carried)."""

    query: str
    rank: int
    id: str
    score: float
    text: str | None
    span: tuple[str, int, int] | None = None
    columns: dict[str, Any] | None = None


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


EXACT_KERNELS = ("auto", "bf16", "int8", "float32")
FAST_METRICS = (Metric.cosine, Metric.dot, Metric.euclidean)


@dataclass(frozen=True)
class SearchWith:
    """How to search: an index file (`ann_file`; `ef` its breadth) or exact search with `kernel`.

    `kernel` "auto" asks `kernel_choice.choose_kernel` (its measured speeds cached in `cache_dir`); "bf16" and
    "int8" force that certified pass of `fast_exact` (same hits and scores); "float32" is `top_k`'s streaming search.
    """

    index: str | None = None
    ef: int | None = None
    kernel: str = "auto"
    cache_dir: Path | None = None
    corpus_path: str = ""
    version: int | None = None
    announce: Callable[[str], None] | None = None  # told when the kernels' speeds are measured (once, seconds)


def find_similar(
    corpus: Corpus,
    queries: Queries,
    metric: Metric,
    k: int,
    threshold: float | None = None,
    exclude_self: bool = False,
    rescore: Rescoring | None = None,
    way: SearchWith | None = None,
    columns: Sequence[str] = (),
) -> tuple[Iterator[Hit], list[str]]:
    """Validate, then search lazily: hits come query by query, best first. Returns (hits, warnings).

    Each hit carries its row's values of the corpus `columns` named (see `hit_columns`).

    With `rescore`, the search keeps RESCORE_FACTOR x k candidates in the corpus's own precision, then ranks them
    by their exact scores on the float originals (`rescore.metric`, whose scale the hits and threshold use).
    `way` picks an index file or the exact kernel (default: exact, kernel chosen per job).
    """
    way = way or SearchWith()
    if way.kernel not in EXACT_KERNELS:
        raise UsageError(f"unknown exact kernel {way.kernel!r}; choose one of: {', '.join(EXACT_KERNELS)}")
    check_queries(queries, metric)
    exclude = _exclusions(corpus, queries, exclude_self)
    final = rescore.metric if rescore else metric
    min_score = final.internal(threshold) if threshold is not None else None
    wanted = k * RESCORE_FACTOR if rescore else k
    if way.index is not None:
        from embedcli.search.indexed import indexed_search, open_index

        index = open_index(way.index, corpus, way.corpus_path or corpus.name, way.version, metric)
        found = indexed_search(index, corpus, queries, wanted, way.ef, exclude, None if rescore else min_score)
        warnings = list(corpus.notes)
    else:
        searchable, warnings = corpus.searchable(metric)
        warnings = corpus.notes + warnings
        prepared = _CorpusRows(searchable) if queries.vectors is None else prepare(metric, queries.vectors)
        fast = _fast_corpus(corpus, searchable, metric, len(queries.labels), way)
        if fast is not None:
            from embedcli.search.fast_exact_hits import fast_search

            chosen = fast.vectors if queries.vectors is None else prepared
            found = fast_search(chosen, fast, wanted, exclude, None if rescore else min_score)  # type: ignore[arg-type]
        else:
            found = search(prepared, searchable, wanted, exclude=exclude, min_score=None if rescore else min_score)  # type: ignore[arg-type]
    if rescore is not None:
        found = _rescored(found, corpus, queries, rescore, k, min_score)
    return _hits(found, corpus, queries, final, columns), warnings


def _fast_corpus(corpus: Corpus, searchable: SearchCorpus, metric: Metric, n_queries: int, way: SearchWith) -> Any:
    """The corpus as `fast_exact.LowCorpus` when a low-precision kernel is chosen (or forced) and can serve it, else
    None.

    It serves float32 corpora held as arrays (no decoding, not streamed) under cosine, dot or euclidean; a memory-
    mapped corpus under cosine stays on the streaming path (its unit rows would be a second copy in memory).
    """
    vectors = searchable.vectors
    if way.kernel == "float32" or corpus.decode is not None or metric not in FAST_METRICS:
        return None
    if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32 or vectors.ndim != 2:
        return None
    if metric is Metric.cosine and isinstance(vectors, np.memmap):
        return None
    kernel = way.kernel
    if kernel == "auto":
        from embedcli.search.fast_exact import measure_rates

        kernel = choose_kernel(n_queries, len(vectors), vectors.shape[1], way.cache_dir, measure_rates, way.announce)
        if kernel == "float32":
            return None
    from embedcli.search.fast_exact import LowCorpus

    if metric is Metric.cosine and not corpus.owned:  # owned rows were made unit in place by `searchable`
        # the very rows top_k scores (scaled by inverse lengths), so both kernels rank and print the same scores
        vectors = np.concatenate([block for _, block, _ in searchable.blocks(65_536)])
    return LowCorpus(vectors, metric, kernel, searchable.skip)


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


def _hits(
    found: Iterator[QueryHits], corpus: Corpus, queries: Queries, metric: Metric, columns: Sequence[str] = ()
) -> Iterator[Hit]:
    texts, spans = corpus.texts, corpus.spans
    shown = {name: corpus.columns[name] for name in columns}
    for result in found:
        label = queries.labels[result.query]
        scores = metric.shown(result.scores)
        for rank, (row, score) in enumerate(zip(result.rows.tolist(), scores.tolist(), strict=True), start=1):
            if row == NO_ROW:
                continue
            shown_score = float(f"{score:.7g}")  # float32 carries about 7 significant digits
            text = texts[row] if texts is not None else None
            span = spans[row] if spans is not None else None
            values = {name: column[row] for name, column in shown.items()} if shown else None
            yield Hit(label, rank, corpus.ids[row], shown_score, text, span, values)


HIT_FIELDS = ("query", "rank", "id", "score", "text")


def hit_columns(corpus: Corpus, wanted: Sequence[str] | None) -> list[str]:
    """The corpus columns each hit carries: `wanted` (checked), or with None every column but a chunk's layout
    (`doc_id`, `start`, `end`, which every chunk hit names, and `chunk`, which its id `DOC#N` names) and any named
    like a hit field (`query`, `rank`, ...): hits of a chunk file keep the schema they had before kept columns.

    Raises UsageError, naming the columns there are, for a name the corpus lacks or one a hit already has."""
    spanned = set(CHUNK_COLUMNS) if corpus.spans is not None else set()
    if wanted is None:
        layout = spanned | {"chunk"} if spanned else set()
        return [name for name in corpus.columns if name not in layout and name not in HIT_FIELDS]
    for name in wanted:
        if name in spanned or name in HIT_FIELDS:
            raise UsageError(f"--show-columns {name}: every hit has its {name} already")
        if name not in corpus.columns:
            there = ", ".join(n for n in corpus.columns if n not in spanned) or "none but id and text"
            raise UsageError(f"--show-columns: {corpus.name} has no column '{name}'", hint=f"columns here: {there}")
    return list(dict.fromkeys(wanted))
