"""Similarity metrics: one "higher is better" score per (query, corpus row), so ranking has one code path.

Internally cosine and dot are the similarity itself; euclidean, manhattan and hamming are the *negated* distance.
Users are shown `Metric.shown(score)`: the similarity, or the distance itself.

Scoring happens in blocks (`score_block`) on *prepared* vectors: `prepare` turns float32 rows into the form the
metric multiplies (unit rows for cosine, ±1 bits for hamming), once per query set and once per corpus. Block scores
may be a rank-equivalent stand-in (euclidean blocks score `2q·c - |c|²`, which ranks like `-|q - c|`); `exact`
turns the kept hits into the true score.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

# numpy loads in the functions that compute: `embedcli --help` imports this module for its enum, and must not pay
# for numpy (tests/cli/test_cli_help_imports.py).
if TYPE_CHECKING:
    import numpy as np


class Metric(str, Enum):
    cosine = "cosine"
    dot = "dot"
    euclidean = "euclidean"
    manhattan = "manhattan"
    hamming = "hamming"

    @property
    def is_distance(self) -> bool:
        """True for metrics users read as a distance (smaller is closer)."""
        return self in (Metric.euclidean, Metric.manhattan, Metric.hamming)

    @property
    def score_name(self) -> str:
        return "distance" if self.is_distance else "similarity"

    def shown(self, scores: np.ndarray) -> np.ndarray:
        """Internal scores as users read them: similarities unchanged, distances positive."""
        return -scores + 0.0 if self.is_distance else scores  # + 0.0: a distance of 0 is not -0

    def internal(self, value: float) -> float:
        """A user's threshold (minimum similarity or maximum distance) as a minimum internal score."""
        return -value if self.is_distance else value


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (a new array); all-zero rows stay zero."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def normalize_in_place(vectors: np.ndarray, rows: int = 65_536) -> None:
    """Scale float32 rows to length 1 in place, a block at a time (no second copy of the matrix)."""
    import numpy as np

    for start in range(0, len(vectors), rows):
        block = vectors[start : start + rows]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # NaN/Inf rows stay unusable; search skips them
            block /= np.where(norms == 0, 1, norms)


def prepare(metric: Metric, vectors: np.ndarray, normalized: bool = False) -> np.ndarray:
    """float32 rows in the form `score_block` expects. `normalized` says cosine rows are unit length already.

    Hamming compares sign bits: float vectors count as the bits binary precision would store (x > 0).
    """
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if metric is Metric.cosine and not normalized:
        return unit_rows(vectors)
    if metric is Metric.hamming:  # the sign bits binary precision stores, as ±1 so a product counts agreements
        return np.where(vectors > 0, np.float32(1), np.float32(-1))
    return np.ascontiguousarray(vectors)


def squared_lengths(rows: np.ndarray) -> np.ndarray:
    """|c|² of each row."""
    import numpy as np

    return np.einsum("ij,ij->i", rows, rows)


def block_aux(metric: Metric, block: np.ndarray) -> np.ndarray | None:
    """Per-row numbers a metric needs beside the prepared corpus rows (squared lengths for euclidean)."""
    if metric is Metric.euclidean:
        return squared_lengths(block)
    return None


def score_block(
    metric: Metric,
    queries: np.ndarray,
    block: np.ndarray,
    aux: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rank-equivalent scores, higher is better, float32 (len(queries), len(block)), from prepared rows.

    `out`, a float32 array of that shape, receives the scores: reusing one buffer across blocks saves the page
    faults of a fresh allocation per block (about 5% of a large search).
    """
    import numpy as np

    if metric is Metric.manhattan:
        from scipy.spatial.distance import cdist

        return -cdist(queries, block, "cityblock").astype(np.float32)
    if metric is Metric.euclidean:
        scores = np.matmul(queries + queries, block.T, out=out)  # 2q·c - |c|² = |q|² - |q - c|²
        scores -= aux if aux is not None else block_aux(metric, block)
        return scores
    return np.matmul(queries, block.T, out=out)  # cosine (unit rows), dot, hamming (±1 rows: q·c = dims - 2·hamming)


def exact(metric: Metric, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The true internal scores of prepared query i against prepared corpus row rows[i, j]: shape (n, k) float32.

    `queries` is (n, d), `rows` (n, k, d).
    """
    import numpy as np

    if metric is Metric.euclidean:
        return -np.sqrt(((rows - queries[:, None, :]) ** 2).sum(axis=2, dtype=np.float64)).astype(np.float32)
    if metric is Metric.manhattan:
        return -np.abs(rows - queries[:, None, :]).sum(axis=2, dtype=np.float64).astype(np.float32)
    dots = np.einsum("nkd,nd->nk", rows, queries, dtype=np.float64)
    if metric is Metric.hamming:
        return ((dots - queries.shape[1]) / 2).astype(np.float32)  # -(dims - q·c) / 2
    return dots.astype(np.float32)


def brute_force(metric: Metric, queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Every exact internal score (len(queries), len(corpus)) in float64, from float vectors: the oracle for tests.

    Hamming takes the sign bits of float vectors (as binary precision stores them).
    """
    import numpy as np

    q, c = np.asarray(queries, np.float64), np.asarray(corpus, np.float64)
    if metric is Metric.cosine:
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
        return q @ c.T
    if metric is Metric.dot:
        return q @ c.T
    if metric is Metric.euclidean:
        return -np.sqrt(((q[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    if metric is Metric.manhattan:
        return -np.abs(q[:, None, :] - c[None, :, :]).sum(axis=2)
    return -((q[:, None, :] > 0) != (c[None, :, :] > 0)).sum(axis=2).astype(np.float64)
