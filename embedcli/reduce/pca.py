"""Exact PCA in one streaming pass: accumulate XᵀX and Σx over blocks of rows, then eigendecompose the covariance.

Memory is bounded by one block plus a (width × width) matrix, whatever the number of rows; the cost is one
symmetric rank-k update per block, the same work scikit-learn's `svd_solver="covariance_eigh"` does on the
whole matrix at once. Blocks are shifted by the first block's mean before their products are taken, so the
float32 products do not lose the variance to cancellation against a large mean; block products are summed in
float64. For wide inputs where few components are kept, the eigenpairs come from randomized subspace iteration
on the covariance matrix instead of a full `eigh`.
"""

from __future__ import annotations

import numpy as np

# Above this width, and keeping at most an eighth of it, a full eigh costs more than subspace iteration.
RANDOMIZED_MIN_WIDTH = 2048
POWER_ITERATIONS = 8
OVERSAMPLES = 16
CHUNK_ROWS = 4096


class GramAccumulator:
    """The sums that exact PCA (and uncentred SVD) need, fed one block of rows at a time."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows = 0
        self.shift: np.ndarray | None = None
        self.sums = np.zeros(width, dtype=np.float64)
        self.gram = np.zeros((width, width), dtype=np.float64)

    def add(self, block: np.ndarray) -> None:
        """Add a (rows, width) block; float32 products (BLAS syrk), accumulated in float64."""
        if len(block) == 0:
            return
        block = np.asarray(block, dtype=np.float32)
        if self.shift is None:
            self.shift = block.mean(axis=0, dtype=np.float64).astype(np.float32)
            self._buffer = np.empty((CHUNK_ROWS, self.width), dtype=np.float32)
        # Shift chunk by chunk into one reused buffer: no allocation per block, and the chunk stays in cache.
        for start in range(0, len(block), CHUNK_ROWS):
            part = block[start : start + CHUNK_ROWS]
            shifted = np.subtract(part, self.shift, out=self._buffer[: len(part)])
            self.gram += shifted.T @ shifted
            self.sums += shifted.sum(axis=0)  # centred values: a float32 sum per chunk is accurate
        self.rows += len(block)

    @property
    def mean(self) -> np.ndarray:
        assert self.shift is not None, "no rows were added"
        return self.shift + self.sums / self.rows

    def covariance(self) -> np.ndarray:
        """The sample covariance (ddof=1), float64 (width, width)."""
        centred = self.sums / self.rows
        return (self.gram - self.rows * np.outer(centred, centred)) / max(self.rows - 1, 1)

    def second_moment(self) -> np.ndarray:
        """XᵀX of the raw (uncentred) rows, float64."""
        assert self.shift is not None, "no rows were added"
        shift = self.shift.astype(np.float64)
        cross = np.outer(self.sums, shift)
        return self.gram + cross + cross.T + self.rows * np.outer(shift, shift)


def top_eigenpairs(matrix: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending) of a symmetric PSD matrix and their eigenvectors as rows (k, width).

    Signs follow scikit-learn's `svd_flip`: each vector's largest-magnitude entry is positive.
    """
    width = len(matrix)
    if width >= RANDOMIZED_MIN_WIDTH and k <= width // 8:
        values, vectors = _randomized_eigh(matrix, k, seed)
    else:
        values, vectors = np.linalg.eigh(matrix)
        values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    components = np.ascontiguousarray(vectors.T)
    biggest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(k), biggest])[:, None]
    return np.maximum(values, 0.0), components


def _randomized_eigh(matrix: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subspace iteration (Halko et al.) on a symmetric matrix: cost width² · (k + oversamples) per iteration."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(matrix @ rng.standard_normal((len(matrix), k + OVERSAMPLES)))
    for _ in range(POWER_ITERATIONS):
        basis, _ = np.linalg.qr(matrix @ basis)
    values, small = np.linalg.eigh(basis.T @ matrix @ basis)
    order = np.argsort(values)[::-1][:k]
    return values[order], basis @ small[:, order]
