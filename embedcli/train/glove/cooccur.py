"""Co-occurrence counting with the rules of the Stanford tool's `cooccur`, streamed, in float64.

Rules (cooccur.c): out-of-vocabulary tokens are dropped before windowing (they take no place in the window); a
window of `window` in-vocabulary tokens to the left of each token, never crossing a line; a pair at distance d
adds 1/d to X[left, right] and to X[right, left] (symmetric context; a word paired with itself at distance d
thus adds 2/d to its diagonal cell). Memory holds the vocabulary, one chunk of token ids and the non-zeros:
pairs of the `dense_words` most frequent words in a dense table, the rest in an open-addressing hash table that
doubles when it is 70% full; the corpus itself is never held.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.train.glove.vocab import Vocabulary

_EMPTY = -1
_LOAD = 0.7
_CHUNK_TOKENS = 1 << 19
_FORMAT = "embedcli-glove-cooccur-1"


@dataclass(frozen=True)
class Cooccurrence:
    """The co-occurrence matrix as COO records, with its vocabulary.

    `rows`, `cols`: int32 word ids into `vocabulary.words`, shape `(nnz,)`, each (row, col) once, in an order
    that depends only on the input (pairs of frequent words first, row by row; then the rest in hash order);
    `values`: float64 > 0, shape `(nnz,)`. `window` is the window it was counted with (kept for provenance).
    """

    vocabulary: Vocabulary
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    window: int

    def __len__(self) -> int:
        return len(self.values)

    def to_scipy(self):  # type: ignore[no-untyped-def]
        """The matrix as a `scipy.sparse.csr_matrix` of shape `(V, V)`, float64 (needs scipy)."""
        from scipy.sparse import csr_matrix

        size = len(self.vocabulary)
        return csr_matrix((self.values, (self.rows, self.cols)), shape=(size, size))


class _Table:
    """Open-addressing hash table from pair key (row * V + col, int64) to a float64 sum, plus a dense corner."""

    def __init__(self, vocab_size: int, dense_words: int, capacity_bits: int, window: int) -> None:
        self.vocab_size = vocab_size
        self.window = window
        self.history = np.zeros(window, dtype=np.int64)
        self.state = np.zeros(3, dtype=np.int64)
        self.dense_words = min(dense_words, vocab_size)
        self.dense = np.zeros(self.dense_words * self.dense_words, dtype=np.float64)
        self.keys = np.full(1 << capacity_bits, _EMPTY, dtype=np.int64)
        self.values = np.zeros(1 << capacity_bits, dtype=np.float64)
        self.bits = capacity_bits
        self.used = np.zeros(1, dtype=np.int64)

    def add(self, ids: np.ndarray, ends: np.ndarray) -> None:
        """Count the lines of one chunk (`ids` int64, -1 for a dropped word; `ends` each line's end offset)."""
        from embedcli.train.glove._kernels import count_chunk

        self.state[:] = 0
        while not count_chunk(
            ids, ends, self.state, self.history, self.window, self.keys, self.values, self.bits, self.used,
            self.dense, self.dense_words, self.vocab_size, int(_LOAD * len(self.keys)),
        ):  # fmt: skip
            self.grow()

    def grow(self) -> None:
        from embedcli.train.glove._kernels import rehash

        self.bits += 1
        self.keys, self.values = rehash(self.keys, self.values, self.bits)

    def records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from embedcli.train.glove._kernels import table_records

        nnz = int(np.count_nonzero(self.dense)) + int(self.used[0])
        return table_records(self.keys, self.values, self.dense, self.dense_words, self.vocab_size, nnz)


def count_cooccurrences(
    lines: Iterable[Sequence[str]],
    vocabulary: Vocabulary,
    window: int = 15,
    dense_words: int = 2048,
    chunk_tokens: int = _CHUNK_TOKENS,
) -> Cooccurrence:
    """Count the weighted co-occurrences of `lines` (one token list per line) with `cooccur`'s rules.

    `dense_words` (the most frequent words whose pairs live in a dense float64 table of that size squared)
    and `chunk_tokens` (how many token ids are held at once) trade memory for speed and do not change the
    result. Raises UsageError for a window below 1 and InputError when no pair is found.
    """
    if window < 1:
        raise UsageError(f"--window must be at least 1, not {window}")
    return _count(lines, vocabulary, window, dense_words, chunk_tokens, capacity_bits=20)


def _count(
    lines: Iterable[Sequence[str]],
    vocabulary: Vocabulary,
    window: int,
    dense_words: int,
    chunk_tokens: int,
    capacity_bits: int,
) -> Cooccurrence:
    lookup = _Index(vocabulary.index()).__getitem__
    table = _Table(len(vocabulary), dense_words, capacity_bits, window)
    held: list[Sequence[str]] = []
    lengths: list[int] = []
    size = 0
    # The kernel releases the GIL: it counts one chunk in a worker thread while this thread reads and maps the
    # next (reading is often tokenizing, the slower half). At most two chunks of ids are alive.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for tokens in itertools.chain(lines, [None]):
            if tokens is not None:
                held.append(tokens)
                lengths.append(len(tokens))
                size += lengths[-1]
                if size < chunk_tokens:
                    continue
            if not size:
                continue
            ids = np.fromiter(map(lookup, itertools.chain.from_iterable(held)), dtype=np.int64, count=size)
            ends = np.cumsum(np.array(lengths, dtype=np.int64))
            held.clear()
            lengths.clear()
            size = 0
            if pending is not None:
                pending.result()
            pending = pool.submit(table.add, ids, ends)
        if pending is not None:
            pending.result()
    rows, cols, values = table.records()
    if not len(values):
        raise InputError("no two vocabulary words share a line: the co-occurrence matrix is empty")
    return Cooccurrence(vocabulary, rows, cols, values, window)


class _Index(dict):  # type: ignore[type-arg]
    """Word -> id, with -1 for a word outside the vocabulary (dropped by the counting kernel)."""

    def __missing__(self, key: str) -> int:
        return -1


def save_cooccurrence(matrix: Cooccurrence, path: str) -> None:
    """Write `matrix` and its vocabulary to an .npz readable with `allow_pickle=False` (no Python objects).

    Words are stored as one UTF-8 byte array with int64 offsets, so a long word does not widen every entry.
    """
    encoded = [word.encode("utf-8") for word in matrix.vocabulary.words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    with open(path, "wb") as f:
        np.savez(
            f,
            format=np.array(_FORMAT),
            words_utf8=np.frombuffer(b"".join(encoded), dtype=np.uint8),
            word_offsets=offsets,
            counts=matrix.vocabulary.counts,
            rows=matrix.rows,
            cols=matrix.cols,
            values=matrix.values,
            window=np.array(matrix.window, dtype=np.int64),
        )


def load_cooccurrence(path: str) -> Cooccurrence:
    """Read a matrix written by `save_cooccurrence`; raises InputError when the file is not one, or is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != _FORMAT:
                raise InputError(f"{path}: not a co-occurrence file ({str(data['format'])!r})")
            blob = data["words_utf8"].tobytes()
            offsets = data["word_offsets"]
            counts = data["counts"].astype(np.int64)
            rows, cols, values = data["rows"], data["cols"], data["values"]
            window = int(data["window"])
    except (OSError, KeyError, ValueError) as error:
        raise InputError(
            f"{path}: cannot read a co-occurrence matrix ({error})", hint="write one with --save-cooccur"
        ) from error
    words = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
    size = len(words)
    if (
        len(counts) != size
        or not (len(rows) == len(cols) == len(values))
        or (len(rows) and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= size))
        or not np.all(np.isfinite(values) & (values > 0))
    ):
        raise InputError(f"{path}: inconsistent co-occurrence matrix (ids out of range or values not positive)")
    return Cooccurrence(
        Vocabulary(words, counts), rows.astype(np.int32), cols.astype(np.int32), values.astype(np.float64), window
    )
