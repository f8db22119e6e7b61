"""Word queries on word-vector corpora: neighbours of words, analogies (3CosAdd, 3CosMul) and scored pairs.

Each matches gensim's KeyedVectors on the same vectors: `most_similar` (3CosAdd: the normalised sum of unit
positive vectors minus unit negative vectors, compared by cosine, input words excluded), `most_similar_cosmul`
(Levy & Goldberg's 3CosMul with cosines shifted to [0, 1]) and `similarity`. The search itself is the same
blocked exact top-k as every other query.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.metrics import Metric, brute_force, unit_rows
from embedcli.search.corpus import Corpus
from embedcli.search.neighbours import Hit
from embedcli.search.queries import Queries
from embedcli.search.top_k import NO_ROW, TopK

COSMUL_EPSILON = 1e-6  # gensim's, keeping the division finite


def _row(corpus: Corpus, key: str) -> int:
    row = corpus.row_of(key)
    if row is None:
        what = "vocabulary" if corpus.words is not None else "ids"
        raise InputError(f"'{key}' is not in the {what} of {corpus.name}")
    return row


def analogy_label(positive: list[str], negative: list[str]) -> str:
    return " ".join([positive[0], *(f"+ {w}" for w in positive[1:]), *(f"- {w}" for w in negative)])


def analogy_queries(corpus: Corpus, positive: list[str], negative: list[str]) -> Queries:
    """3CosAdd as one query vector: unit(sum of unit positives - sum of unit negatives); input words excluded."""
    if not positive:
        raise UsageError("an analogy needs at least one --positive word")
    pos = [_row(corpus, w) for w in positive]
    neg = [_row(corpus, w) for w in negative]
    units = unit_rows(corpus.floats(np.array(pos + neg)))
    weights = np.array([1.0] * len(pos) + [-1.0] * len(neg), dtype=np.float32)
    vector = unit_rows((weights[:, None] * units).sum(axis=0, keepdims=True))
    return Queries(labels=[analogy_label(positive, negative)], vectors=vector, exclude=[(0, r) for r in pos + neg])


def cosmul_hits(corpus: Corpus, positive: list[str], negative: list[str], k: int) -> Iterator[Hit]:
    """3CosMul: prod((1 + cos(w, p)) / 2) / (prod((1 + cos(w, n)) / 2) + 1e-6), best first, input words excluded."""
    if not positive:
        raise UsageError("an analogy needs at least one --positive word")
    pos = [_row(corpus, w) for w in positive]
    neg = [_row(corpus, w) for w in negative]
    searchable, _ = corpus.searchable(Metric.cosine)
    terms = unit_rows(corpus.floats(np.array(pos + neg)))
    top = TopK(1, max(1, min(k, len(corpus))))
    inputs = np.array(pos + neg)
    for first, block, _aux in searchable.blocks(65_536):
        shifted = (1 + block @ terms.T) / 2
        scores = np.prod(shifted[:, : len(pos)], axis=1) / (np.prod(shifted[:, len(pos) :], axis=1) + COSMUL_EPSILON)
        scores = scores.astype(np.float32)[None, :]
        mine = inputs[(inputs >= first) & (inputs < first + block.shape[0])]
        scores[0, mine - first] = -np.inf
        skipped = searchable.skip[(searchable.skip >= first) & (searchable.skip < first + block.shape[0])]
        scores[0, skipped - first] = -np.inf
        top.push(scores, first)
    label = analogy_label(positive, negative)
    rank = 0
    for row, score in zip(top.rows[0].tolist(), top.scores[0].tolist(), strict=True):
        if row != NO_ROW and np.isfinite(score):
            rank += 1
            yield Hit(label, rank, corpus.ids[row], float(f"{score:.7g}"), corpus.texts[row] if corpus.texts else None)


def pair_hits(corpus: Corpus, pairs: list[tuple[str, str]], metric: Metric) -> Iterator[Hit]:
    """The score of each given pair (words, or ids of a vector table): query A, id B, rank 1."""
    for a, b in pairs:
        vectors = corpus.floats(np.array([_row(corpus, a), _row(corpus, b)]))
        score = brute_force(metric, vectors[:1], vectors[1:])[0, 0]
        yield Hit(a, 1, b, float(f"{float(metric.shown(np.array(score))):.7g}"), None)
