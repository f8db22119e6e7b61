"""The corpus `similar` searches: a vector file embedcli wrote (from a path or stdin) or a word-vector file.

A corpus knows its rows (ids, optional texts), its stored vectors (possibly a memory map, possibly int8/binary),
how to decode them into float32, the model that made them (provenance), and, for word vectors, the gensim
KeyedVectors so words and analogies behave as gensim's own. Validation (NaN/Inf rows, zero rows) happens here,
before any search, a block at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import InputError
from embedcli.formats import STDIO, OutputFormat
from embedcli.formats.lance_store import is_store
from embedcli.formats.remote import is_remote
from embedcli.formats.shard_folder import is_shard_folder, read_shard_table, shard_bytes
from embedcli.formats.sources import check_readable
from embedcli.formats.vector_files import (
    StoredPrecision,
    read_vector_table,
    release_pages,
    sniff_format,
    stored_precision,
    vector_format_for,
)
from embedcli.formats.word_vectors import load_word_vectors, vocab_path_for
from embedcli.metrics import Metric
from embedcli.precision import Precision
from embedcli.provenance import Provenance
from embedcli.records import RowIds, VectorTable
from embedcli.search.top_k import Decoder, SearchCorpus

CHECK_ROWS = 16_384  # rows validated per block (a few MiB of temporaries)


@dataclass
class Corpus:
    """Rows to search. `vectors` is (n, width) as stored; `decode` (None: read as float32) gives (n, dimension)."""

    name: str
    ids: Sequence[str]  # a list, or RowIds (row numbers made when asked for) for a corpus without ids
    vectors: np.ndarray
    dimension: int
    precision: Precision = Precision.float32
    decode: Decoder | None = None
    texts: list[str] | None = None
    provenance: Provenance = field(default_factory=Provenance)
    words: Any = None  # gensim KeyedVectors when the corpus is a word-vector file
    owned: bool = False  # vectors is a private float32 array search may normalise in place
    notes: list[str] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)  # other columns of the rows (kept by embed)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def spans(self) -> list[tuple[str, int, int] | None] | None:
        """(document id, start, end) of each row when the rows are chunks (`embed --chunk`), from its columns."""
        return chunk_spans(self.columns)

    def floats(self, rows: np.ndarray | slice) -> np.ndarray:
        """Decoded float32 vectors of `rows`."""
        raw = self.vectors[rows]
        return self.decode(raw) if self.decode is not None else np.asarray(raw, dtype=np.float32)

    def row_of(self, key: str) -> int | None:
        """The row of a word (word vectors) or id, or None."""
        if self.words is not None:
            index = self.words.key_to_index
            return index.get(key, index.get(key.lower()))
        if isinstance(self.ids, RowIds):
            return self.ids.row_of(key)
        if not hasattr(self, "_id_rows"):
            self._id_rows = {row_id: i for i, row_id in reversed(list(enumerate(self.ids)))}
        return self._id_rows.get(key)

    def invalid_rows(self, metric: Metric) -> tuple[np.ndarray, list[str]]:
        """Rows that can never be hits (NaN/Inf; all-zero under cosine) and a warning naming them, block by block."""
        bad_parts, zero_parts = [], []
        for start in range(0, len(self), CHECK_ROWS):
            span = slice(start, start + CHECK_ROWS)
            block = self.floats(span)
            finite = np.isfinite(block).all(axis=1)
            bad_parts.append(np.flatnonzero(~finite) + start)
            if metric is Metric.cosine:
                zero_parts.append(np.flatnonzero(finite & ~block.any(axis=1)) + start)
            release_pages(self.vectors[span])  # a mapped corpus is checked without staying resident
        bad = np.concatenate(bad_parts) if bad_parts else np.empty(0, np.int64)
        zero = np.concatenate(zero_parts) if zero_parts else np.empty(0, np.int64)
        warnings = []
        if len(bad):
            warnings.append(f"{self.name}: skipping {_rows(self, bad)} with NaN or infinite values")
        if len(zero):
            warnings.append(f"{self.name}: skipping {_rows(self, zero)} of all zeros (no direction for cosine)")
        return np.union1d(bad, zero).astype(np.int64), warnings

    def searchable(self, metric: Metric) -> tuple[SearchCorpus, list[str]]:
        """The corpus prepared for `metric`, with the warnings validation raised."""
        skip, warnings = self.invalid_rows(metric)
        return SearchCorpus(self.vectors, metric, self.decode, skip, owned=self.owned), warnings


def _rows(corpus: Corpus, rows: np.ndarray, shown: int = 5) -> str:
    names = ", ".join(repr(corpus.ids[i]) for i in rows[:shown])
    more = f" and {len(rows) - shown:,} more" if len(rows) > shown else ""
    return f"{len(rows):,} row{'s' if len(rows) != 1 else ''} ({names}{more})"


def is_word_vector_file(path: str) -> bool:
    """True for files read as word vectors: word2vec/GloVe/fastText, train's word tables, NPY beside a vocabulary."""
    if path == STDIO or is_remote(path):  # word vectors are read from local files only
        return False
    if path.lower().endswith(".npy"):
        return vocab_path_for(path).exists()
    if vector_format_for(path) is not None:
        return path.lower().endswith((".parquet", ".pq")) and _has_word_column(path)
    with open(path, "rb") as f:
        return sniff_format(f.read(8)) is None


def _has_word_column(path: str) -> bool:
    import pyarrow.parquet as pq

    try:
        return "word" in pq.read_schema(path).names
    except Exception:  # not valid Parquet: the vector-table reader says why
        return False


def stream_bytes() -> int:
    """Parquet/Arrow files larger than this (a quarter of the physical memory) are read a batch at a time."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError):
        return 1 << 30


def load_corpus(
    path: str, vector_column: str = "embedding", stream: bool | None = None, version: int | None = None
) -> Corpus:
    """Load a corpus from `path` ('-': stdin). Raises UsageError for unreadable paths, InputError for bad content.

    NPY files are memory-mapped. Parquet and Arrow files are read whole, or, with `stream` (default: when the file
    is larger than `stream_bytes()`), a batch at a time on every pass, keeping only ids and texts in memory. A
    Lance store is read whole at its latest version, or at `version`.
    """
    if version is not None or (path != STDIO and is_store(path)):
        table = read_vector_table(path, vector_column=vector_column, version=version)
    elif path != STDIO and is_shard_folder(path):  # embed --engine ray's parts, in shard order
        if stream or (stream is None and shard_bytes(path) > stream_bytes()):
            return _streamed_corpus(path, vector_column)
        table = read_shard_table(path, vector_column)
    else:
        check_readable(path)
        if is_word_vector_file(path):
            return _word_corpus(path)
        streamable = path != STDIO and vector_format_for(path) in (
            OutputFormat.parquet,
            OutputFormat.arrow,
            OutputFormat.arrows,
        )
        if streamable and (stream or (stream is None and os.path.getsize(path) > stream_bytes())):
            return _streamed_corpus(path, vector_column)
        table = read_vector_table(path, vector_column=vector_column)
    name = "<stdin>" if path == STDIO else path
    if len(table.ids) == 0:
        raise InputError(f"{name}: the corpus has no rows")
    return _table_corpus(table, name)


def _table_corpus(table: VectorTable, name: str) -> Corpus:
    stored: StoredPrecision = stored_precision(table, name)
    vectors = table.vectors
    owned = isinstance(vectors, np.ndarray) and not isinstance(vectors, np.memmap) and stored.decode is None
    if owned and vectors.dtype != np.float32:
        vectors = vectors.astype(np.float32)
    return Corpus(
        name=name,
        ids=table.ids,
        vectors=vectors,
        dimension=stored.dimension,
        precision=stored.precision,
        decode=stored.decode,
        texts=table.texts,
        provenance=table.provenance,
        owned=owned and vectors.flags.writeable and vectors.flags.c_contiguous,
        notes=[stored.note] if stored.note else [],
        columns=table.columns,
    )


CHUNK_COLUMNS = ("doc_id", "start", "end")


def chunk_spans(columns: dict[str, list[Any]]) -> list[tuple[str, int, int] | None] | None:
    """(document id, start, end) per row from the columns `embed --chunk` writes; None when they are not all there,
    and None for a row that lacks one (a corpus merged with one of whole documents)."""
    if not all(name in columns for name in CHUNK_COLUMNS):
        return None
    doc_ids, starts, ends = (columns[name] for name in CHUNK_COLUMNS)
    return [
        None if d is None or s is None or e is None else (str(d), int(s), int(e))
        for d, s, e in zip(doc_ids, starts, ends, strict=True)
    ]


def _streamed_corpus(path: str, vector_column: str) -> Corpus:
    from embedcli.formats.batched_matrix import BatchedMatrix
    from embedcli.formats.vector_batches import VectorBatches

    batches = VectorBatches(path, vector_column).__enter__()  # a file path holds nothing open between passes
    if batches.num_rows == 0:
        raise InputError(f"{path}: the corpus has no rows")
    ids: list[str] = []
    texts: list[str] = []
    columns: dict[str, list[Any]] = {name: [] for name in batches.column_names}
    for batch in batches.batches(65_536):
        ids += batch.ids
        texts += batch.texts or []
        for name, values in batch.columns.items():
            columns[name] += values
    matrix: Any = BatchedMatrix(batches)
    table = VectorTable(ids=ids, vectors=matrix, texts=texts or None, provenance=batches.provenance, columns=columns)
    corpus = _table_corpus(table, path)
    corpus.owned = False
    return corpus


def _word_corpus(path: str) -> Corpus:
    try:
        words = load_word_vectors(path)
    except InputError as exc:
        if "not a word-vector file" not in exc.message:
            raise
        raise InputError(
            f"{path}: neither a vector file nor word vectors",
            hint=f"to search texts, embed them first: embedcli embed {path} | embedcli similar - QUERY",
        ) from None
    vectors = np.asarray(words.vectors, dtype=np.float32)
    return Corpus(
        name=path,
        ids=[str(w) for w in words.index_to_key],
        vectors=vectors,
        dimension=vectors.shape[1],
        provenance=Provenance(backend="word-vectors", model=str(Path(path).resolve())),
        words=words,
        owned=False,  # gensim keeps using these vectors
    )
