"""Exact top-k search in bounded memory: queries are scored against the corpus a block at a time.

Memory is one score block (query chunk × corpus block, about `BLOCK_BYTES`, one buffer reused for every block), one
prepared corpus block (at most `CORPUS_BLOCK_BYTES` of float32, whatever the number of queries) and the k best per
query: never the full score matrix nor a copy of the corpus. A memory-mapped corpus is not kept resident either: the
pages of each block are handed back to the page cache once the block is scored (`release_pages`), so a corpus larger
than RAM streams through in bounded memory. Selection avoids sorting whole rows: the first block of a query chunk is cut
with `np.partition`; after that each query has a floor (its k-th best score so far) and only block scores above the
floor are merged in, which after a few blocks is a handful per query. Ties rank the lower corpus row first: blocks
arrive in row order, so a later row must beat the floor strictly to enter, and merges sort by (score, row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from embedcli.formats.vector_files import release_pages
from embedcli.metrics import Metric, exact, normalize_in_place, prepare, score_block, squared_lengths

BLOCK_BYTES = 32 << 20  # one score block: 32 MiB of float32
CORPUS_BLOCK_BYTES = 16 << 20  # one corpus block as float32: its prepared copy and its mapped pages are both resident
QUERY_CHUNK = 1024  # queries scored together (and reported together)
FIRST_BLOCK_ROWS = 2048  # rows of the block that sets the first floors
GROUP = 256  # columns whose maximum is checked before their elements
ROWS_AT_BATCH = 8  # rows gathered between releases of their pages (`rows_at`): each may map a large folio
NO_ROW = np.iinfo(np.int64).max  # row index of an empty slot: sorts after every real row

Decoder = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QueryHits:
    """One query's hits, best first: corpus row numbers (0-based) and internal scores (higher is better)."""

    query: int
    rows: np.ndarray
    scores: np.ndarray


class SearchCorpus:
    """A corpus matrix prepared for one metric, served a block of rows at a time.

    `vectors` is (n, width) of any dtype, possibly a read-only memory map; `decode` turns a slice of it into float32
    (n, dim) (dequantization of int8/binary rows), else rows are read as float32. Per-row numbers (lengths) are
    computed once here, not per query. With `owned` (a float32 array nobody else uses), cosine normalises it in
    place once; otherwise each block is scaled on the fly with the precomputed inverse lengths.
    `skip` lists rows that must never be hits (NaN/Inf or zero rows); they score -inf.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        metric: Metric,
        decode: Decoder | None = None,
        skip: np.ndarray | None = None,
        owned: bool = False,
        block_rows: int = 16_384,
    ) -> None:
        self.vectors = vectors
        self.metric = metric
        self.decode = decode
        self.skip = np.unique(np.asarray(skip, dtype=np.int64)) if skip is not None else np.empty(0, np.int64)
        self._inverse: np.ndarray | None = None
        self._aux: np.ndarray | None = None
        in_place = owned and decode is None and vectors.dtype == np.float32 and vectors.flags.writeable
        if metric is Metric.cosine and in_place:
            normalize_in_place(vectors, block_rows)
        elif metric is Metric.cosine:
            norms = self._per_row(lambda b: np.linalg.norm(b, axis=1), block_rows)
            with np.errstate(invalid="ignore", divide="ignore"):  # NaN/Inf rows: skipped by search anyway
                self._inverse = (1 / np.where(norms == 0, 1, norms)).astype(np.float32)
        if metric is Metric.euclidean:
            self._aux = self._per_row(squared_lengths, block_rows)

    def __len__(self) -> int:
        return len(self.vectors)

    def _floats(self, raw: np.ndarray) -> np.ndarray:
        return self.decode(raw) if self.decode is not None else np.asarray(raw, dtype=np.float32)

    def _per_row(self, compute: Callable[[np.ndarray], np.ndarray], rows: int) -> np.ndarray:
        parts = []
        for start in range(0, len(self.vectors), rows):
            raw = self.vectors[start : start + rows]
            parts.append(compute(self._floats(raw)))
            release_pages(raw)
        return np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)

    def _prepared(self, floats: np.ndarray, rows: slice | np.ndarray) -> np.ndarray:
        if self._inverse is not None:
            return floats * self._inverse[rows, None]
        if self.metric is Metric.cosine:
            return floats  # normalised in place
        return prepare(self.metric, floats)

    def blocks(self, rows: int, first: int | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """(first row, prepared block, per-row aux or None) for consecutive blocks of at most `rows` rows.

        With `first`, blocks start at `first` rows and double up to `rows`.
        """
        n, start, size = len(self.vectors), 0, min(first or rows, rows)
        while start < n:
            stop = min(start + size, n)
            size = min(2 * size, rows)
            span = slice(start, stop)
            raw = self.vectors[span]
            block = self._prepared(self._floats(raw), span)
            yield start, block, self._aux[span] if self._aux is not None else None
            release_pages(raw)
            start = stop

    def rows_at(self, indices: np.ndarray) -> np.ndarray:
        """Prepared rows at `indices` (any shape; NO_ROW allowed, giving zeros): shape indices.shape + (dim,)."""
        flat = indices.ravel()
        real = np.where(flat == NO_ROW, 0, flat)
        order = np.argsort(real, kind="stable")  # memory maps read faster in row order
        picked = np.empty((len(real), 0), np.float32)
        sorted_rows = real[order]
        for start in range(0, len(sorted_rows), ROWS_AT_BATCH):
            rows = sorted_rows[start : start + ROWS_AT_BATCH]
            floats = self._prepared(self._floats(self.vectors[rows]), rows)
            # A mapped file's pages come in large folios: one row can map megabytes, so the span just read is
            # handed back before the next batch (a thousand queries' hits would otherwise map the whole corpus).
            release_pages(self.vectors[rows[0] : rows[-1] + 1])
            if start == 0:
                picked = np.empty((len(real), floats.shape[1]), np.float32)
            picked[order[start : start + ROWS_AT_BATCH]] = floats
        return picked.reshape(*indices.shape, -1)


class TopK:
    """The k best (score, row) of each of `n` queries, fed block by block in increasing row order."""

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.scores = np.full((n, k), -np.inf, dtype=np.float32)
        self.rows = np.full((n, k), NO_ROW, dtype=np.int64)
        self.floor = np.full(n, -np.inf, dtype=np.float32)  # a new row must score strictly above this

    def push(self, scores: np.ndarray, first_row: int) -> None:
        """Merge a block of scores (n, block rows) for corpus rows first_row, first_row + 1, ..."""
        n, width = scores.shape
        k = self.k
        lowest = np.nextafter(self.floor, np.float32(np.inf))  # strictly above the floor (and above -inf)
        cut = width > 2 * k and not np.isfinite(self.floor).all()
        if not cut:
            query, column = _at_least(scores, lowest)
            cut = len(query) > n * max(16 * k, 256) and width > 2 * k  # many candidates: cut the block first
        if cut:
            kth = np.partition(scores, width - k, axis=1)[:, width - k]
            query, column = np.nonzero(scores >= np.maximum(lowest, kth)[:, None])
        if len(query):
            self._merge(query, column, scores[query, column], first_row)

    def _merge(self, query: np.ndarray, column: np.ndarray, values: np.ndarray, first_row: int) -> None:
        k = self.k
        counts = np.bincount(query, minlength=len(self.floor))
        touched = np.flatnonzero(counts)
        width = k + int(counts.max())
        starts = np.cumsum(counts) - counts
        slot = np.arange(len(query)) - starts[query] + k  # np.nonzero lists candidates query by query
        local = np.searchsorted(touched, query)
        scores = np.full((len(touched), width), -np.inf, dtype=np.float32)
        rows = np.full((len(touched), width), NO_ROW, dtype=np.int64)
        scores[:, :k], rows[:, :k] = self.scores[touched], self.rows[touched]
        scores[local, slot], rows[local, slot] = values, column + first_row
        best = np.lexsort((rows, -scores), axis=1)[:, :k]
        self.scores[touched] = np.take_along_axis(scores, best, axis=1)
        self.rows[touched] = np.take_along_axis(rows, best, axis=1)
        last = self.scores[touched, -1]
        self.floor[touched] = np.where(np.isfinite(last), last, -np.inf)


def search(
    queries: np.ndarray,
    corpus: SearchCorpus,
    k: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    min_score: float | None = None,
    query_chunk: int = QUERY_CHUNK,
    block_rows: int | None = None,
) -> Iterator[QueryHits]:
    """The k best corpus rows of every query, query by query, best first.

    `queries` are prepared float32 rows (`metrics.prepare`) of the corpus's dimension. `exclude` is a pair of
    arrays (query numbers, corpus rows) that must not be hits, sorted by query number. `min_score` drops hits
    below it (internal scale: `Metric.internal(threshold)`). A query with fewer than k eligible rows gets fewer.
    `block_rows` defaults to what keeps one score block within BLOCK_BYTES and one float32 corpus
    block within CORPUS_BLOCK_BYTES.
    """
    metric = corpus.metric
    k = max(1, min(k, len(corpus)))
    if block_rows is None:
        # Bounded on both sides: the score block (query chunk x rows) within BLOCK_BYTES, and the corpus block as
        # float32 (rows x dim: what decoding, cosine scaling and cdist copy) within CORPUS_BLOCK_BYTES. Without the
        # second bound one query made the whole corpus one block, and its prepared copy doubled a search's memory.
        dim = queries[:1].shape[-1] if len(queries) else 1
        by_scores = BLOCK_BYTES // (4 * min(query_chunk, max(len(queries), 1)))
        block_rows = max(2 * k + 1, min(by_scores, CORPUS_BLOCK_BYTES // (4 * max(dim, 1))))
    buffer = np.empty(min(query_chunk, len(queries)) * block_rows, np.float32)
    for start in range(0, len(queries), query_chunk):
        chunk = queries[start : start + query_chunk]
        top = TopK(len(chunk), k)
        pairs = _pairs_in(exclude, start, start + len(chunk))
        # A small first block sets each query's floor cheaply (np.partition over few rows); blocks then double, so
        # each brings few scores above the tightening floors.
        for first, block, aux in corpus.blocks(block_rows, first=min(block_rows, max(8 * k, FIRST_BLOCK_ROWS))):
            out = buffer[: len(chunk) * len(block)].reshape(len(chunk), len(block))
            scores = score_block(metric, chunk, block, aux, out=out)
            _mask(scores, first, pairs, corpus.skip)
            top.push(scores, first)
        scores, rows = _final_scores(metric, chunk, corpus, top)
        for i in range(len(chunk)):
            keep = np.isfinite(scores[i]) & (rows[i] != NO_ROW)
            if min_score is not None:
                keep &= scores[i] >= np.float32(min_score)
            yield QueryHits(start + i, rows[i][keep], scores[i][keep])


def _at_least(scores: np.ndarray, lowest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, column) of the scores >= lowest[query], grouped by query.

    Once floors are high, candidates are rare: the maximum of each group of GROUP columns rules most groups out,
    so only the few groups that may hold a candidate are compared element by element (5x faster than a full
    comparison and `nonzero` over the block).
    """
    n, width = scores.shape
    grouped = width - width % GROUP
    if grouped == 0:
        query, column = np.nonzero(scores >= lowest[:, None])
        return query, column
    groups = scores[:, :grouped].reshape(n, grouped // GROUP, GROUP)
    query, group = np.nonzero(groups.max(axis=2) >= lowest[:, None])
    inner_query, offset = np.nonzero(groups[query, group] >= lowest[query][:, None])
    query, column = query[inner_query], group[inner_query] * GROUP + offset
    if grouped < width:
        tail_query, tail_column = np.nonzero(scores[:, grouped:] >= lowest[:, None])
        query = np.concatenate([query, tail_query])
        column = np.concatenate([column, tail_column + grouped])
        order = np.argsort(query, kind="stable")
        query, column = query[order], column[order]
    return query, column


def _pairs_in(exclude: tuple[np.ndarray, np.ndarray] | None, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    if exclude is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    query, row = exclude
    a, b = np.searchsorted(query, [lo, hi])
    return query[a:b] - lo, row[a:b]


def _mask(scores: np.ndarray, first: int, pairs: tuple[np.ndarray, np.ndarray], skip: np.ndarray) -> None:
    last = first + scores.shape[1]
    if len(skip):
        a, b = np.searchsorted(skip, [first, last])
        scores[:, skip[a:b] - first] = -np.inf
    query, row = pairs
    inside = (row >= first) & (row < last)
    if inside.any():
        scores[query[inside], row[inside] - first] = -np.inf


def _final_scores(metric: Metric, chunk: np.ndarray, corpus: SearchCorpus, top: TopK) -> tuple[np.ndarray, np.ndarray]:
    """Block scores made exact where they were a rank-equivalent stand-in or a float32 matmul's, re-ranked (score,
    then row). Cosine and dot are rescored in float64 and rounded once, as `fast_exact` scores them, so every exact
    kernel prints the same scores (a float32 matmul's last bit depends on its blocking)."""
    scores, rows = top.scores, top.rows
    if metric is Metric.hamming:
        scores = (scores - chunk.shape[1]) / 2  # ±1 products: q·c = dims - 2·hamming
    elif metric in (Metric.euclidean, Metric.cosine, Metric.dot):
        empty = rows == NO_ROW
        scores = np.where(empty, -np.inf, exact(metric, chunk, corpus.rows_at(rows))).astype(np.float32)
        order = np.lexsort((rows, -scores), axis=1)
        scores, rows = np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
    return scores, rows
