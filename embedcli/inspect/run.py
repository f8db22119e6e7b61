"""Inspect one input: read it as `similar` reads a corpus, then measure it with embedcli's own exact search."""

from __future__ import annotations

import numpy as np

from embedcli.inspect.report import InspectReport, inspect_vectors
from embedcli.metrics import Metric
from embedcli.search import Corpus, knn_graph, load_corpus


def inspect_file(
    path: str,
    *,
    metric: Metric | None = None,
    sample: int = 5000,
    seed: int = 0,
    axes: int = 3,
    version: int | None = None,
) -> InspectReport:
    """Measure the vectors in `path` ('-': stdin). Every row is scanned once; the rest uses a seeded sample.

    The metric defaults to cosine (hamming corpora are measured by cosine on their ±1 vectors). Word-vector files
    give their words as labels and their counts (or frequency ranks) for norm against frequency. Raises UsageError
    for an unreadable path and InputError for unusable content.
    """
    corpus = load_corpus(path, stream=False, version=version)
    chosen = metric or Metric.cosine
    if chosen is Metric.hamming:
        chosen = Metric.cosine
    vectors = corpus.vectors if corpus.decode is None else corpus.floats(slice(None))
    labels = corpus.texts if corpus.texts is not None else None
    return inspect_vectors(
        vectors,
        ids=corpus.ids,
        texts=labels,
        metric=chosen,
        sample=sample,
        seed=seed,
        axes=axes,
        knn=knn_graph,
        word_counts=_word_counts(corpus),
    )


def _word_counts(corpus: Corpus) -> np.ndarray | None:
    """Word frequencies of a word-vector corpus: gensim's counts when recorded, else minus the rank (files are
    written most frequent first)."""
    words = corpus.words
    if words is None:
        return None
    counts = words.expandos.get("count") if hasattr(words, "expandos") else None
    if counts is not None and np.any(counts):
        return np.asarray(counts, dtype=np.float64)
    return -np.arange(len(corpus.ids), dtype=np.float64)
