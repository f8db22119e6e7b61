"""The queries of a `similar` run: texts (embedded as the corpus was), words, vector files, or every corpus row.

Text queries are embedded with the model the corpus records in its provenance (backend, model, prompt, truncation,
normalisation), so queries and corpus live in the same space. Vector queries must come from the same model, the same
family of backend (fp32 onnx and sentence-transformers are one) and have the same dimension. Everything is checked
before the search starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from embedcli.embed import ModelChoice, embed_query_media, embed_query_texts
from embedcli.errors import InputError
from embedcli.formats import STDIO, VECTOR_SUFFIXES, OutputFormat, data_suffix
from embedcli.formats.media import sniff_file
from embedcli.formats.text_inputs import RecordReader
from embedcli.formats.vector_files import read_vector_table, sniff_format, stored_precision, vector_format_for
from embedcli.metrics import Metric
from embedcli.provenance import Provenance
from embedcli.search.corpus import Corpus


@dataclass
class Queries:
    """Query vectors (float32, the corpus's dimension) with the labels hits name them by.

    `exclude` pairs (query number, corpus row) are never hits (a word is not its own neighbour). `rows` set means
    the queries are the corpus rows themselves (no query given): vectors are then read from the corpus, a chunk
    at a time, and each row excludes itself.
    """

    labels: Sequence[str]
    vectors: np.ndarray | None
    exclude: list[tuple[int, int]] = field(default_factory=list)
    every_row: bool = False
    ids: Sequence[str] | None = None  # ids of vector queries, for --exclude-self


def text_queries(corpus: Corpus, texts: list[str], choice: ModelChoice) -> tuple[Queries, list[str]]:
    """Positional or file queries as texts; on a word-vector corpus, single words are looked up directly."""
    if corpus.words is not None and choice.model is None:
        return word_queries(corpus, texts), []
    vectors, warnings = embed_query_texts(texts, corpus.provenance, corpus.name, corpus.dimension, choice)
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
    """--queries FILE: an image or sound (judged by content, embedded with the corpus's model), vectors (checked
    against the corpus) or texts (one per line, or JSONL/CSV fields)."""
    sniffed = sniff_file(path) if path != STDIO and os.path.isfile(path) else None
    if sniffed is not None:
        vectors = embed_query_media([path], sniffed.kind, corpus.provenance, corpus.name, corpus.dimension, choice)
        return Queries(labels=[path], vectors=vectors), []
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
    ours, theirs = corpus.provenance.model, table.provenance.model
    if ours and theirs and ours != theirs:
        raise InputError(
            f"{name} was embedded with {theirs}, the corpus with {ours}: their vectors cannot be compared",
            hint="embed both with the same --model",
        )
    ours_family, theirs_family = corpus.provenance.family, table.provenance.family
    if ours_family and theirs_family and ours_family != theirs_family:
        raise InputError(
            f"{name} was embedded by {_backend(table.provenance)}, the corpus by {_backend(corpus.provenance)}: "
            "their vectors differ",
            hint="embed both with the same --backend and --quantize",
        )
    if stored.dimension != corpus.dimension:
        raise InputError(f"{name} holds {stored.dimension}-d vectors, the corpus {corpus.dimension}-d")
    vectors = stored.decode(table.vectors) if stored.decode else np.asarray(table.vectors, dtype=np.float32)
    labels = table.texts if table.texts is not None and all(t is not None for t in table.texts) else table.ids
    return Queries(labels=[str(x) for x in labels], vectors=vectors, ids=table.ids)


def _backend(meta: Provenance) -> str:
    return f"{meta.backend} ({meta.quantize})" if meta.quantize not in (None, "none") else str(meta.backend)


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


def word_queries(corpus: Corpus, texts: list[str]) -> Queries:
    """Each text as a word of the vocabulary (excluded from its own hits), else the mean of its known words."""
    vectors = np.zeros((len(texts), corpus.dimension), dtype=np.float32)
    exclude, unknown = [], []
    for i, text in enumerate(texts):
        row = corpus.row_of(text)
        if row is not None:
            vectors[i] = corpus.floats(np.array([row]))[0]
            exclude.append((i, row))
            continue
        rows = [r for r in map(corpus.row_of, text.split()) if r is not None]
        if rows:
            vectors[i] = corpus.floats(np.array(rows)).mean(axis=0)
        elif corpus.words is not None and hasattr(corpus.words, "buckets_word"):
            vectors[i] = corpus.words.get_vector(text)  # fastText: vectors for unseen words from n-grams
        else:
            unknown.append(text)
    if unknown:
        shown = ", ".join(map(repr, unknown[:3])) + (f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else "")
        raise InputError(
            f"none of the words of {'this query' if len(unknown) == 1 else 'these queries'} is in the vocabulary:"
            f" {shown}",
            hint="words are looked up as given, then lower-cased",
        )
    return Queries(labels=list(texts), vectors=vectors, exclude=exclude)
