"""`index` as a library: build an HNSW index over any corpus embedcli reads, and check one against its corpus.

`build_for_corpus(IndexRequest)` is the command's one call: it reads the corpus (vector files, streamed Parquet,
stores, word vectors; int8 corpora are decoded, binary ones indexed as bits), builds the graph a batch at a time,
measures its recall@10 against exact search (see `ann.build_index`) and writes the file whole or not at all.
`corpus_fingerprint` is what the file records and what `similar --index` compares.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from embedcli.errors import UsageError
from embedcli.formats import STDIO
from embedcli.formats.lance_store import is_store, open_store
from embedcli.metrics import Metric
from embedcli.search.ann import BATCH_ROWS, DEFAULT_TARGET, AnnPrecision, IndexHeader, Progress, build_index
from embedcli.search.ann_file import Fingerprint, fingerprint, save
from embedcli.search.corpus import Corpus, load_corpus


@dataclass(frozen=True)
class IndexRequest:
    """What to index and how. None: cosine with f32 storage, or hamming with b1 for a binary corpus."""

    corpus: str
    output: str
    metric: Metric | None = None
    precision: AnnPrecision | None = None
    m: int = 16
    ef_construction: int = 128
    ef: int | None = None  # None: tuned to reach `target_recall`
    target_recall: float | None = None  # None: ann.DEFAULT_TARGET (0.95)
    threads: int | None = None  # None: every core this process may use
    version: int | None = None  # of a store corpus


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def index_choices(corpus: Corpus, metric: Metric | None, precision: AnnPrecision | None) -> tuple[Metric, AnnPrecision]:
    """The metric and graph precision for `corpus`: bits (hamming, b1) for a binary corpus, else cosine and f32."""
    packed = corpus.precision.is_packed
    if metric is None:
        metric = Metric.hamming if packed or precision is AnnPrecision.b1 else Metric.cosine
    if precision is None:
        precision = AnnPrecision.b1 if metric is Metric.hamming else AnnPrecision.f32
    if packed and metric is not Metric.hamming:
        raise UsageError(
            f"{corpus.name} holds binary vectors: its index compares bits (hamming)",
            hint="drop --metric, and rescore with the float vectors: embedcli similar ... --index I --rescore ORIGINAL",
        )
    return metric, precision


def graph_batch(corpus: Corpus, metric: Metric, rows: slice | np.ndarray) -> np.ndarray:
    """Corpus rows as `ann` takes them: the stored bits for hamming on a binary corpus, else decoded float32."""
    if metric is Metric.hamming and corpus.precision.is_packed:
        return np.asarray(corpus.vectors[rows])
    return corpus.floats(rows)


def corpus_fingerprint(corpus: Corpus, path: str, version: int | None = None) -> Fingerprint:
    """The fingerprint of `corpus` as read from `path` (a store's version included)."""
    if path == STDIO:
        raise UsageError("an index needs its corpus as a file, not stdin", hint="write the vectors to a file first")
    store_version = open_store(path, version).version if is_store(path) else None
    return fingerprint(corpus.vectors, path, store_version)


def build_for_corpus(request: IndexRequest, progress: Progress | None = None) -> IndexHeader:
    """Build, measure and write the index `request` asks for; returns its header (recall, tuned ef, sizes).

    `progress(rows added, total rows)` follows the build pass. Raises UsageError for a metric/precision pair the
    index cannot hold, a corpus from stdin, a manhattan metric; InputError for a corpus that cannot be read. An
    interrupted build (KeyboardInterrupt) leaves no output behind.
    """
    corpus = load_corpus(request.corpus, version=request.version)
    metric, precision = index_choices(corpus, request.metric, request.precision)
    stamp = corpus_fingerprint(corpus, request.corpus, request.version)

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, len(corpus), BATCH_ROWS):
            yield graph_batch(corpus, metric, slice(start, start + BATCH_ROWS))

    index = build_index(
        batches,
        metric,
        precision,
        m=request.m,
        ef_construction=request.ef_construction,
        threads=request.threads or default_threads(),
        progress=progress,
        rows=len(corpus),
        ef=request.ef,
        target_recall=DEFAULT_TARGET if request.target_recall is None else request.target_recall,
        fingerprint=stamp.to_json(),
    )
    save(index, request.output)
    return index.header
