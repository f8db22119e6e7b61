"""One pass over every row (a memory-mapped file is read once, a block at a time): what a sample cannot count.

Row lengths, non-finite rows, exact duplicate rows, and the rows at both ends of given axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_HASH_SEED = 20_101  # fixed: equal rows must hash equally in every block and every run


@dataclass
class Scan:
    """What one pass over every row counts.

    lengths: (n,) float64 row norms, NaN for rows holding NaN or infinity (or too large to square in float32).
    duplicate_rows: finite rows equal, byte for byte (after -0.0 -> 0.0), to an earlier row. high/low: (axes, ends)
    row numbers with the largest and smallest projections on each axis, extreme first; high_values/low_values the
    projections.
    """

    lengths: np.ndarray
    nonfinite_rows: int
    zero_rows: int
    duplicate_rows: int
    high: np.ndarray
    high_values: np.ndarray
    low: np.ndarray
    low_values: np.ndarray


def _row_hashes(block: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """A universal hash (a sum of words times odd multipliers, wrapping mod 2^64) of each float32 row's bytes."""
    clean = block + np.float32(0)  # a new contiguous array, with -0.0 turned into 0.0
    words = clean.view(np.uint64) if clean.shape[1] % 2 == 0 else clean.view(np.uint32).astype(np.uint64)
    return (words * multipliers[: words.shape[1]]).sum(axis=1, dtype=np.uint64)


def _keep_ends(
    values: np.ndarray, rows: np.ndarray, new_values: np.ndarray, first_row: int, ends: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `ends` largest values (per axis) of the kept ones and a new block's, largest first, with their rows."""
    if new_values.shape[1] > ends:
        top = np.argpartition(-new_values, ends - 1, axis=1)[:, :ends]
        new_values, new_rows = np.take_along_axis(new_values, top, 1), top + first_row
    else:
        new_rows = np.broadcast_to(np.arange(new_values.shape[1]) + first_row, new_values.shape)
    values = np.concatenate([values, new_values], axis=1)
    rows = np.concatenate([rows, new_rows], axis=1)
    order = np.argsort(-values, axis=1, kind="stable")[:, :ends]
    return np.take_along_axis(values, order, 1), np.take_along_axis(rows, order, 1)


def scan(
    vectors: np.ndarray,
    mean: np.ndarray | None = None,
    axes: np.ndarray | None = None,
    ends: int = 5,
    block: int = 16_384,
) -> Scan:
    """Read every row of `vectors` (n, dim), any float dtype, memory-mapped or not, `block` rows at a time.

    mean (dim,) and axes (a, dim): the rows whose centred projection on each axis is highest and lowest (`ends` of
    each); non-finite rows are never chosen. Duplicates are found by a 64-bit hash of the row's float32 bytes
    (a false match has odds about n^2 / 2^64).
    """
    n, dim = vectors.shape
    draws = np.random.default_rng(_HASH_SEED).integers(0, 2**63, size=dim, dtype=np.uint64)
    multipliers = np.asarray(draws * np.uint64(2) + np.uint64(1))  # odd: every word changes the hash
    lengths = np.empty(n, dtype=np.float64)
    hashes = np.empty(n, dtype=np.uint64)
    finite_all = np.empty(n, dtype=bool)
    count = 0 if axes is None else len(axes)
    high_v, high_r = np.empty((count, 0)), np.empty((count, 0), dtype=np.int64)
    low_v, low_r = np.empty((count, 0)), np.empty((count, 0), dtype=np.int64)
    for start in range(0, n, block):
        rows = np.asarray(vectors[start : start + block], dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            length = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        finite = np.isfinite(length)  # also False where a square overflows float32 (|x| > 1.8e19)
        finite_all[start : start + len(rows)] = finite
        lengths[start : start + len(rows)] = np.where(finite, length, np.nan)
        hashes[start : start + len(rows)] = _row_hashes(rows, multipliers)  # non-finite rows' hashes go unused
        if count:
            assert axes is not None and mean is not None
            projected = (rows @ axes.T - mean @ axes.T).T  # (axes, rows); no centred copy of the block
            high_v, high_r = _keep_ends(high_v, high_r, np.where(finite, projected, -np.inf), start, ends)
            low_v, low_r = _keep_ends(low_v, low_r, np.where(finite, -projected, -np.inf), start, ends)
    kept = np.sort(hashes[finite_all])
    distinct = int(len(kept) > 0) + int((kept[1:] != kept[:-1]).sum())
    return Scan(
        lengths=lengths,
        nonfinite_rows=int(n - finite_all.sum()),
        zero_rows=int((lengths == 0).sum()),
        duplicate_rows=int(finite_all.sum() - distinct),
        high=high_r,
        high_values=high_v,
        low=low_r,
        low_values=-low_v,
    )
