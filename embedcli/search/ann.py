"""An approximate nearest-neighbour index (faiss HNSW): recall measured at build time, exact scores at search time.

Chosen by measurement (bench/bench_ann.py): at the same M, ef_construction and ef, faiss `IndexHNSWFlat` built 2-3x
faster than usearch 2.26 and answered 2-3x more queries per second at equal recall on this machine.

- Hits are corpus row numbers (0-based, int64), mapped from the graph's insertion order (`corpus_rows`). Rows are
  added in batches, so memory while building is the index itself plus one batch.
- Metrics: cosine (unit rows, inner product), dot (inner product), euclidean (L2); hamming on packed bits
  (`IndexBinaryHNSW`). Precisions: f32 (`IndexHNSWFlat`), f16 / bf16 / i8 (`IndexHNSWSQ`, the scalar quantizer
  trained on the first batch), b1 (hamming only).
- Recall is measured while building, against exact numpy search, on two query sets of `RECALL_QUERIES` seeded rows:
  *held-out* rows are withheld from the graph until it is measured on them (so they are true unseen queries, with
  their exact neighbours among the other rows), then added last; *in-corpus* rows are searched in the finished
  index (their nearest neighbour is usually themselves: the near-duplicate use case).
- `search` returns exact scores: an f32 graph's own float32 distances are the exact search's scores; the candidates
  of f16 / bf16 / i8 graphs are rescored from the corpus vectors (memory-mapped: only candidate rows are read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from embedcli.errors import UsageError
from embedcli.formats import IndexPrecision as AnnPrecision
from embedcli.metrics import Metric, exact, unit_rows

EF_GRID = (16, 32, 64, 128, 256, 512)
RECALL_QUERIES = 1000
RECALL_K = 10
DEFAULT_TARGET = 0.95
BATCH_ROWS = 65_536
# Held-out rows keep their near-duplicates in the corpus (paraphrase pairs, repeated sentences), which makes them
# easier than queries from elsewhere: on 3,000 STS-B sentences, held-out rows measured recall@10 0.984 at ef 16 but
# 500 unseen STS-B sentences got 0.911 (0.959 at ef 32, 0.985 at ef 64). The tuned ef is doubled to cover that.
EF_MARGIN = 2
STOP_RECALL = 0.999

Progress = Callable[[int, int], None]  # (rows added so far, total rows)


@dataclass(frozen=True)
class Recall:
    """Measured recall@k of the graph's k candidates against exact search, per ef, for one query set."""

    queries: int
    k: int
    by_ef: dict[int, float]

    def at(self, ef: int) -> float:
        """Recall at the largest measured ef <= `ef` (recall grows with ef, so a floor); 0.0 below the grid."""
        measured = [e for e in self.by_ef if e <= ef]
        return self.by_ef[max(measured)] if measured else 0.0


@dataclass(frozen=True)
class IndexHeader:
    """What an index file records beside the library's bytes. `fingerprint` is `ann_file.Fingerprint.to_json()`."""

    metric: Metric
    precision: AnnPrecision
    rows: int
    dimension: int
    m: int
    ef_construction: int
    ef: int
    held_out: Recall
    in_corpus: Recall
    fingerprint: dict[str, Any] = field(default_factory=dict)
    held_rows: tuple[int, ...] = ()  # the held-out rows, added to the graph last (see `corpus_rows`)
    library: str = ""


@dataclass
class AnnIndex:
    """A faiss HNSW index (`native`) and its header."""

    native: Any
    header: IndexHeader

    @property
    def binary(self) -> bool:
        return self.header.precision is AnnPrecision.b1


def _native(metric: Metric, precision: AnnPrecision, dimension: int, m: int, ef_construction: int) -> Any:
    """An empty faiss HNSW index."""
    import faiss

    if metric is Metric.manhattan:
        raise UsageError("an index cannot use the manhattan metric", hint="use cosine, dot, euclidean or hamming")
    if (metric is Metric.hamming) != (precision is AnnPrecision.b1):
        raise UsageError(
            f"an index with metric {metric.value} cannot use precision {precision.value}",
            hint="hamming goes with --precision b1 (packed bits); cosine, dot and euclidean with f32, f16, bf16 or i8",
        )
    graph: Any
    if precision is AnnPrecision.b1:
        graph = faiss.IndexBinaryHNSW(dimension, m)
        graph.hnsw.efConstruction = ef_construction
        return graph
    kind = faiss.METRIC_L2 if metric is Metric.euclidean else faiss.METRIC_INNER_PRODUCT
    if precision is AnnPrecision.f32:
        graph = faiss.IndexHNSWFlat(dimension, m, kind)
    else:
        quantizer: Any = {
            AnnPrecision.f16: faiss.ScalarQuantizer.QT_fp16,
            AnnPrecision.bf16: faiss.ScalarQuantizer.QT_bf16,
            AnnPrecision.i8: faiss.ScalarQuantizer.QT_8bit,
        }[precision]
        graph = faiss.IndexHNSWSQ(dimension, quantizer, m, kind)
    graph.hnsw.efConstruction = ef_construction
    return graph


def corpus_rows(labels: np.ndarray, held: np.ndarray, total: int) -> np.ndarray:
    """Corpus row numbers (int64, same shape) of the graph's internal labels; -1 (no hit) stays -1.

    The graph holds the rows that were not held out in row order, then the `held` rows (sorted) last: label i below
    total - len(held) is the i-th row not held out, and the held rows follow. No id map is stored: faiss's
    `IndexIDMap` cost about a quarter of the queries/s here (an extra parallel region per search).
    """
    labels = np.asarray(labels, dtype=np.int64)
    kept = total - len(held)
    shifted = held - np.arange(len(held))  # held[j] is preceded by shifted[j] rows that were not held out
    rows = labels + np.searchsorted(shifted, labels, side="right")
    late = labels >= kept
    rows[late] = held[np.minimum(labels[late] - kept, max(len(held) - 1, 0))]
    rows[labels < 0] = -1
    return rows


def graph_rows(metric: Metric, batch: np.ndarray) -> np.ndarray:
    """A corpus or query batch as the graph takes it: unit float32 rows for cosine, packed uint8 bits for hamming.

    Hamming accepts packed uint8 rows, embedcli's int8 `binary` rows (bytes offset by -128) or float rows (their
    sign bits, as binary precision stores them).
    """
    if metric is Metric.hamming:
        if batch.dtype == np.uint8:
            return np.ascontiguousarray(batch)
        if batch.dtype == np.int8:
            return (batch.astype(np.int16) + 128).astype(np.uint8)
        return np.packbits(np.asarray(batch) > 0, axis=-1)
    rows = np.asarray(batch, dtype=np.float32)
    return unit_rows(rows) if metric is Metric.cosine else np.ascontiguousarray(rows)


Source = np.ndarray | Callable[[], Iterable[np.ndarray]]


def _batches(vectors: Source, rows: int) -> Iterator[np.ndarray]:
    if isinstance(vectors, np.ndarray):
        for start in range(0, len(vectors), rows):
            yield vectors[start : start + rows]
    else:
        yield from vectors()


class _Truth:
    """Running exact top-k of a query set over the corpus batches, in graph form (the oracle for recall).

    Float rows go through `fast_exact`'s pruned float32 pass (exact scores; most of a batch is ruled out by group
    maxima, where a full argpartition of every batch cost as much as a fifth of faiss's build at 40,000 rows);
    hamming rows are unpacked to +-1 and scored by one matmul.
    """

    def __init__(self, metric: Metric, queries: np.ndarray, k: int) -> None:
        self.metric, self.queries, self.k = metric, queries, k
        if metric is Metric.hamming:
            self.queries = np.unpackbits(queries, axis=1).astype(np.float32) * 2 - 1
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.rows = np.full((len(queries), k), -1, np.int64)

    def add(self, batch: np.ndarray, first: int, masked: np.ndarray | None = None) -> None:
        if self.metric is Metric.hamming:
            scores, rows = self._hamming(batch, masked)
        else:
            from embedcli.search.fast_exact import LowCorpus, top_k_fast

            ranked = Metric.euclidean if self.metric is Metric.euclidean else Metric.dot  # cosine rows are unit
            block = LowCorpus(np.asarray(batch, dtype=np.float32), ranked, "float32", masked)
            rows, scores = top_k_fast(self.queries, block, min(self.k, len(batch)), ranked)
        rows = np.where(rows >= 0, rows + first, -1)
        scores = np.concatenate([self.scores, scores], axis=1)
        rows = np.concatenate([self.rows, rows], axis=1)
        best = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(scores, best, 1)
        self.rows = np.take_along_axis(rows, best, 1)

    def _hamming(self, batch: np.ndarray, masked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        scores = self.queries @ (np.unpackbits(batch, axis=1).astype(np.float32) * 2 - 1).T
        if masked is not None and len(masked):
            scores[:, masked] = -np.inf
        k = min(self.k, scores.shape[1])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        return part.astype(np.int64), np.take_along_axis(scores, part, 1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true neighbours (rows >= 0 of `truth`) that `found` holds; rows within a query are distinct."""
    hits = ((found[:, :, None] == truth[:, None, :]) & (truth[:, None, :] >= 0)).any(axis=1).sum()
    return int(hits) / max(1, int((truth >= 0).sum()))


def _measure(
    native: Any, queries: np.ndarray, truth: _Truth, k: int, held: np.ndarray, total: int, target: float
) -> Recall:
    """Recall per ef of the grid, up to `EF_MARGIN` times the first ef that reaches `target`: the ef `tune_ef` can
    choose from this set. The largest efs cost the most to search and no default reads them, so they are left
    unmeasured (`Recall.at` floors to the largest measured ef, an under-estimate)."""
    by_ef = {}
    enough: int | None = None
    for ef in EF_GRID:
        if enough is not None and ef > enough:
            break
        native.hnsw.efSearch = max(ef, k)
        _, found = native.search(queries, k)
        found = corpus_rows(found, held, total)
        by_ef[ef] = round(_recall(found, truth.rows), 4)
        if by_ef[ef] >= STOP_RECALL:  # no target asks for more; larger ef is recorded as reaching it too
            by_ef.update({e: by_ef[ef] for e in EF_GRID if e > ef})
            break
        if enough is None and by_ef[ef] >= target:
            enough = ef * EF_MARGIN
    return Recall(len(queries), k, by_ef)


def build_index(
    vectors: Source,
    metric: Metric,
    precision: AnnPrecision = AnnPrecision.f32,
    m: int = 16,
    ef_construction: int = 128,
    threads: int = 2,
    progress: Progress | None = None,
    rows: int | None = None,
    ef: int | None = None,
    target_recall: float = DEFAULT_TARGET,
    seed: int = 0,
    fingerprint: dict[str, Any] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> AnnIndex:
    """Build an HNSW index over corpus rows 0..n-1 and measure its recall@10 on held-out and in-corpus queries.

    `vectors` is an (n, d) array (float, or packed uint8 for hamming; a memory map is read a batch at a time) or a
    callable returning a fresh iterable of such batches in row order (it is read twice: once to build, once for
    the exact neighbours of the recall queries), with `rows` giving n. Memory: the index plus one batch.
    The default search breadth `ef` is `tune_ef(target_recall)` unless given. `progress(done, total)` is called
    after each batch of the build pass. `fingerprint` (`ann_file.Fingerprint.to_json()`) is stored in the header.
    Raises UsageError for a metric/precision pair the index cannot hold, an
    empty corpus, or a source whose row count differs from `rows`.
    """
    import faiss

    faiss.omp_set_num_threads(threads)
    if rows is None:
        if not isinstance(vectors, np.ndarray):
            raise UsageError("building an index from batches needs the corpus's row count")
        rows = len(vectors)
    if rows < 2:
        raise UsageError("an index needs a corpus of at least 2 rows")
    k = min(RECALL_K, rows - 1)
    sample = np.random.default_rng(seed).permutation(rows)[: min(2 * RECALL_QUERIES, rows // 2)]
    held, drawn = np.sort(sample[: len(sample) // 2]), np.sort(sample[len(sample) // 2 :])
    native: Any = None
    held_parts: list[np.ndarray] = []
    drawn_parts: list[np.ndarray] = []
    first = 0
    for batch in _batches(vectors, batch_rows):
        graph = graph_rows(metric, batch)
        if native is None:
            width = graph.shape[1] * 8 if metric is Metric.hamming else graph.shape[1]
            native = _native(metric, precision, width, m, ef_construction)
            if not native.is_trained:
                native.train(graph)  # the scalar quantizer's ranges come from the first batch
        local = np.arange(first, first + len(graph))
        is_held = np.isin(local, held)
        held_parts.append(graph[is_held])
        drawn_parts.append(graph[np.isin(local, drawn)])
        native.add(graph[~is_held])
        first += len(graph)
        if progress is not None:
            progress(first, rows)
    if native is None or first != rows:
        raise UsageError(f"the corpus gave {first} rows where {rows} were expected")
    held_queries, drawn_queries = np.concatenate(held_parts), np.concatenate(drawn_parts)
    held_truth, drawn_truth = _Truth(metric, held_queries, k), _Truth(metric, drawn_queries, k)
    first = 0
    for batch in _batches(vectors, batch_rows):
        graph = graph_rows(metric, batch)
        inside = held[(held >= first) & (held < first + len(graph))] - first
        held_truth.add(graph, first, masked=inside)  # held-out queries' neighbours are the other rows
        drawn_truth.add(graph, first)
        first += len(graph)
    held_recall = _measure(native, held_queries, held_truth, k, held, rows, target_recall)
    native.add(held_queries)
    drawn_recall = _measure(native, drawn_queries, drawn_truth, k, held, rows, target_recall)
    header = IndexHeader(
        metric=metric,
        precision=precision,
        rows=rows,
        dimension=native.d,
        m=m,
        ef_construction=ef_construction,
        ef=ef if ef is not None else 0,
        held_out=held_recall,
        in_corpus=drawn_recall,
        fingerprint=fingerprint or {},
        held_rows=tuple(int(r) for r in held),
        library=f"faiss {faiss.__version__}",
    )
    index = AnnIndex(native, header)
    if ef is None:
        index.header = replace(header, ef=tune_ef(index, target_recall))
    return index


def tune_ef(index: AnnIndex, target_recall: float, margin: int = EF_MARGIN) -> int:
    """`margin` times the smallest measured ef whose recall reaches `target_recall` on both query sets.

    Capped at the largest measured ef, which is also the answer when no measured ef reaches the target.
    """
    for ef in EF_GRID:
        measured = [index.header.held_out.at(ef), index.header.in_corpus.at(ef)]
        if min(measured) >= target_recall:
            return min(ef * margin, EF_GRID[-1])
    return EF_GRID[-1]


def search(
    index: AnnIndex,
    queries: np.ndarray,
    k: int,
    corpus_vectors: np.ndarray,
    ef: int | None = None,
    threshold: float | None = None,
    threads: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best corpus rows of each query by the graph, with exact scores: rows int64 (q, k), scores float32 (q, k).

    `queries` (q, d) are float rows (packed uint8 bits for hamming); `corpus_vectors` (n, d) is the corpus the index
    was built from (a memory map is fine: only the candidate rows are read). Scores are those of exact search: an
    f32 graph holds the corpus rows themselves (unit rows for cosine), so its float32 distances are the exact
    search's scores and nothing is re-read; the graph's hamming distances are exact too; f16, bf16 and i8 graphs'
    candidates are rescored from `corpus_vectors` (`metrics.exact`). Scores are internal, higher is better
    (`Metric.shown` gives what users read). Each query's hits are sorted by exact score, ties by row. Slots with no
    hit (fewer than k rows, or below `threshold`, an internal minimum score) hold row -1 and score -inf.
    `ef` defaults to the index's tuned ef.
    """
    import faiss

    faiss.omp_set_num_threads(threads)
    metric = index.header.metric
    k = max(1, min(k, index.header.rows))
    index.native.hnsw.efSearch = max(ef or index.header.ef, k)
    graph_queries = graph_rows(metric, queries)
    distances, labels = index.native.search(graph_queries, k)
    rows = corpus_rows(labels, np.asarray(index.header.held_rows, np.int64), index.header.rows)
    missing = rows < 0
    if metric is Metric.hamming:
        scores = -distances.astype(np.float32)
    elif index.header.precision is not AnnPrecision.f32:
        scores = _rescore(metric, graph_queries, rows, corpus_vectors)
    elif metric is Metric.euclidean:
        scores = -np.sqrt(np.maximum(distances, 0))  # faiss's L2 is squared: sum((q - c)^2), no cancellation
    else:
        scores = distances
    scores[missing] = -np.inf
    order = np.lexsort((rows, -scores), axis=1)
    rows, scores = np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)
    if threshold is not None:
        scores[scores < np.float32(threshold)] = -np.inf
    rows[~np.isfinite(scores)] = -1
    return rows, scores


def _rescore(metric: Metric, queries: np.ndarray, rows: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Exact internal scores of prepared queries against corpus rows (-1 scores 0, masked later)."""
    unique, inverse = np.unique(np.where(rows < 0, 0, rows), return_inverse=True)  # sorted: memory maps read in order
    picked = np.asarray(corpus[unique], dtype=np.float32)
    if metric is Metric.cosine:
        picked = unit_rows(picked)
    return exact(metric, queries, picked[inverse.reshape(rows.shape)])


__all__ = ["AnnIndex", "AnnPrecision", "IndexHeader", "build_index", "search", "tune_ef"]
