"""`similar` as a library: queries (texts, vectors, words, or every corpus row) in, hits out.

Text queries are embedded with the model the corpus records in its metadata (backend, model, prompt, truncation,
normalisation), so queries and corpus live in the same space. Vector queries must come from the same model and
have the same dimension. Everything is checked before the search starts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from embedcli.backends import choose_backend, create_backend
from embedcli.backends.base import BackendOptions
from embedcli.corpus import Corpus
from embedcli.embedding import EmbeddingRun, EmbedSettings
from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, VECTOR_SUFFIXES, OutputFormat, data_suffix
from embedcli.formats.text_inputs import RecordReader
from embedcli.formats.vector_files import (
    read_vector_table,
    sniff_format,
    stored_precision,
    vector_format_for,
)
from embedcli.metrics import Metric, exact, prepare
from embedcli.models import resolve_model
from embedcli.records import Record
from embedcli.search import NO_ROW, QueryHits, SearchCorpus, search


class Hit(NamedTuple):
    """One line of output: the query (its text, word or id), the rank from 1, the corpus row's id, score, text."""

    query: str
    rank: int
    id: str
    score: float
    text: str | None


@dataclass
class Queries:
    """Query vectors (float32, the corpus's dimension) with the labels hits name them by.

    `exclude` pairs (query number, corpus row) are never hits (a word is not its own neighbour). `rows` set means
    the queries are the corpus rows themselves (no query given): vectors are then read from the corpus, a chunk
    at a time, and each row excludes itself.
    """

    labels: list[str]
    vectors: np.ndarray | None
    exclude: list[tuple[int, int]] = field(default_factory=list)
    every_row: bool = False
    ids: list[str] | None = None  # ids of vector queries, for --exclude-self


@dataclass(frozen=True)
class ModelChoice:
    """How text queries are embedded: by default the model the corpus records; --model/--backend override."""

    model: str | None = None
    backend: str | None = None
    prompt: str | None = None
    batch_size: int = 32


def embed_texts(corpus: Corpus, texts: list[str], choice: ModelChoice) -> tuple[np.ndarray, list[str]]:
    """Embed `texts` as the corpus was embedded; returns float32 vectors and warnings. Raises UsageError when the
    corpus records no model and none is given."""
    meta = corpus.metadata
    warnings: list[str] = []
    recorded = meta.get("model")
    if choice.model is None and not recorded:
        raise UsageError(
            f"{corpus.name} does not record the model that made it, so text queries cannot be embedded",
            hint="pass --model (and --backend) naming that model, or give --queries as vectors",
        )
    model_ref = resolve_model(choice.model or recorded)
    if choice.model and recorded and resolve_model(recorded).location != model_ref.location:
        warnings.append(f"{corpus.name} was embedded with {recorded}, queries with {choice.model}: scores may mislead")
    backend_name = choice.backend or (meta.get("backend") if not choice.model else None)
    prompt = choice.prompt if choice.prompt is not None else meta.get("prompt")
    same_model = not choice.model
    # Re-embed as the corpus was embedded: its length limit and, for onnx, its quantization.
    options = BackendOptions(
        batch_size=choice.batch_size,
        prompt=prompt,
        max_length=meta.get("max_length") if same_model else None,
        extra={"quantize": meta["quantize"]} if same_model and meta.get("quantize") else {},
    )
    backend = create_backend(choose_backend(backend_name, model_ref), model_ref, options)
    dim = meta.get("truncate_dim") if not choice.model else None
    if backend.dimension < (dim or 0):
        dim = None
    run = EmbeddingRun(
        backend, EmbedSettings(batch_size=choice.batch_size, normalize=bool(meta.get("normalized")), dim=dim)
    )
    records = [Record(str(i), t) for i, t in enumerate(texts, start=1)]
    vectors = np.concatenate([b.vectors for b in run.batches(records)])
    if vectors.shape[1] != corpus.dimension:
        raise InputError(
            f"the query model {model_ref.name} makes {vectors.shape[1]}-d vectors, the corpus has {corpus.dimension}-d",
            hint="embed the queries with the corpus's model (drop --model)",
        )
    return vectors, warnings + backend.notes()


def text_queries(corpus: Corpus, texts: list[str], choice: ModelChoice) -> tuple[Queries, list[str]]:
    """Positional or file queries as texts; on a word-vector corpus, single words are looked up directly."""
    if corpus.words is not None and choice.model is None:
        from embedcli.analogies import word_queries

        return word_queries(corpus, texts), []
    vectors, warnings = embed_texts(corpus, texts, choice)
    return Queries(labels=texts, vectors=vectors), warnings


def is_vector_file(path: str, vector_column: str = "embedding") -> bool:
    """True when --queries names vectors rather than texts (by suffix, JSONL by its first line, stdin by magic)."""
    if path == STDIO:
        head = sys.stdin.buffer.peek(8)[:8] if hasattr(sys.stdin.buffer, "peek") else b""
        fmt = sniff_format(head)
        return fmt is not None and fmt is not OutputFormat.jsonl
    fmt = vector_format_for(path)
    if fmt is OutputFormat.jsonl or data_suffix(path) == ".json":
        with open(path, "rb") as f:
            return f'"{vector_column}"'.encode() in f.readline()
    return fmt is not None and data_suffix(path) in VECTOR_SUFFIXES


def file_queries(path: str, corpus: Corpus, choice: ModelChoice) -> tuple[Queries, list[str]]:
    """--queries FILE: vectors (checked against the corpus) or texts (one per line, or JSONL/CSV fields)."""
    if is_vector_file(path):
        return vector_queries(path, corpus), []
    records = list(RecordReader([path]))
    if not records:
        raise InputError(f"{'<stdin>' if path == STDIO else path}: no queries in it")
    return text_queries(corpus, [r.text for r in records], choice)


def vector_queries(path: str, corpus: Corpus) -> Queries:
    name = "<stdin>" if path == STDIO else path
    table = read_vector_table(path, mmap=False)
    stored = stored_precision(table, name)
    ours, theirs = corpus.metadata.get("model"), table.metadata.get("model")
    if ours and theirs and ours != theirs:
        raise InputError(
            f"{name} was embedded with {theirs}, the corpus with {ours}: their vectors cannot be compared",
            hint="embed both with the same --model",
        )
    if stored.dimension != corpus.dimension:
        raise InputError(f"{name} holds {stored.dimension}-d vectors, the corpus {corpus.dimension}-d")
    vectors = stored.decode(table.vectors) if stored.decode else np.asarray(table.vectors, dtype=np.float32)
    labels = table.texts if table.texts is not None and all(t is not None for t in table.texts) else table.ids
    return Queries(labels=[str(x) for x in labels], vectors=vectors, ids=table.ids)


def every_row(corpus: Corpus) -> Queries:
    """No query: every corpus row queries the corpus, itself excluded."""
    return Queries(labels=corpus.ids, vectors=None, every_row=True)


def check_queries(queries: Queries, metric: Metric) -> None:
    """NaN/Inf queries, and zero queries under cosine, are errors naming the query."""
    if queries.vectors is None:
        return
    finite = np.isfinite(queries.vectors).all(axis=1)
    bad = [queries.labels[i] for i in np.flatnonzero(~finite)[:3]]
    if bad:
        raise InputError(f"query vectors with NaN or infinite values: {', '.join(map(repr, bad))}")
    if metric is Metric.cosine:
        zero = [queries.labels[i] for i in np.flatnonzero(~queries.vectors.any(axis=1))[:3]]
        if zero:
            raise InputError(
                f"queries with an all-zero vector (no direction for cosine): {', '.join(map(repr, zero))}",
                hint="for word vectors: none of the query's words is in the vocabulary",
            )


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
