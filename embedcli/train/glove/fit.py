"""GloVe training: glove.c's per-record AdaGrad over the co-occurrence records, Hogwild across threads.

The kernel is numba (see bench/bench_glove.py for the measurement against the C tool): one compiled loop per
thread, released from the GIL, each over its own contiguous span of the shuffled records while all threads
update the shared parameters without locks, as glove.c's pthreads do. With one worker the updates run in one
fixed order, so a seed gives the same bytes every run (on one kind of CPU: the vectorised dot products sum
in an order set by the SIMD width numba compiles for).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.train.glove.cooccur import Cooccurrence
from embedcli.train.glove.vocab import Vocabulary


@dataclass(frozen=True)
class GloveSettings:
    """glove.c's defaults, except `dim` (glove.c: 50; embedcli train: 100)."""

    dim: int = 100
    epochs: int = 25
    x_max: float = 100.0
    alpha: float = 0.75
    eta: float = 0.05
    grad_clip: float = 100.0
    workers: int = 1
    seed: int = 1

    def check(self) -> None:
        """Raise UsageError for a setting training cannot run with."""
        for name, value in (("--dim", self.dim), ("--epochs", self.epochs), ("--workers", self.workers)):
            if value < 1:
                raise UsageError(f"{name} must be at least 1, not {value}")
        for name, number in (("--x-max", self.x_max), ("alpha", self.alpha), ("eta", self.eta)):
            if not number > 0:
                raise UsageError(f"{name} must be positive, not {number}")


EpochCallback = Callable[[int, float], None]

# Bytes per co-occurrence record: counting (hash slot 16 B at <= 70% load, doubled while rehashing), the
# matrix (int32 row and col, float64 value) and training (log X and f(X) in float32, plus a shuffled copy of
# rows, cols, log X and f(X) and the int64 permutation).
_COUNTING_BYTES_PER_RECORD = int(16 / 0.7 * 1.5)
_TRAINING_BYTES_PER_RECORD = 8 + 16 + 8


def estimate_memory(
    vocabulary: Vocabulary, settings: GloveSettings, window: int = 15, records: int | None = None
) -> dict[str, int]:
    """Bytes by part, known once the vocabulary is: parameters exactly, the matrix as an upper bound.

    The number of non-zeros is not known before counting; it is at most min(V², 2·window·tokens) where tokens
    are the in-vocabulary tokens (on the 15 Gutenberg books the bound is ~16x the 6.8 M records found).
    `records`: the number of non-zeros of a matrix already counted (a saved one): the figures are then
    exact, and there is no counting.
    """
    size = len(vocabulary)
    if records is not None:
        return {
            "vectors and AdaGrad sums": 4 * size * (settings.dim + 1) * 4,
            "co-occurrence matrix and training copies": records * (16 + _TRAINING_BYTES_PER_RECORD),
        }
    records = min(size * size, 2 * window * int(vocabulary.counts.sum()))
    return {
        "vectors and AdaGrad sums": 4 * size * (settings.dim + 1) * 4,
        "co-occurrence counting (at most)": records * _COUNTING_BYTES_PER_RECORD + 8 * 2048 * 2048,
        "co-occurrence matrix and training copies (at most)": records * (16 + _TRAINING_BYTES_PER_RECORD),
    }


def train_glove(
    matrix: Cooccurrence, settings: GloveSettings = GloveSettings(), on_epoch: EpochCallback | None = None
) -> np.ndarray:
    """Train GloVe on `matrix`; returns W + W̃, float32, shape `(len(matrix.vocabulary), settings.dim)`.

    Loss ½·f(X)·(wᵢ·w̃ⱼ + bᵢ + b̃ⱼ − log X)², f(x) = min(1, (x/x_max)^alpha). Parameters start uniform in
    ±0.5/dim, AdaGrad accumulators at 1. Each epoch visits the records in a fresh seeded shuffle, split into
    `workers` contiguous spans (the last takes the remainder, as glove.c splits its file). `on_epoch(epoch,
    cost)` is called after each epoch (1-based) with the mean cost per record, the figure glove.c prints.
    Parameters are float32 (glove.c: double); the cost is summed in float64. Raises UsageError for a bad
    setting and InputError for an empty matrix.
    """
    from embedcli.train.glove._kernels import train_span

    settings.check()
    if not len(matrix):
        raise InputError("the co-occurrence matrix is empty: nothing to train on")
    size, dim = len(matrix.vocabulary), settings.dim
    rng = np.random.default_rng(settings.seed)
    w, c = ((rng.random((size, dim), dtype=np.float32) - np.float32(0.5)) / np.float32(dim) for _ in range(2))
    bw, bc = ((rng.random(size, dtype=np.float32) - np.float32(0.5)) / np.float32(dim) for _ in range(2))
    gw, gc = np.ones((size, dim), dtype=np.float32), np.ones((size, dim), dtype=np.float32)
    gbw, gbc = np.ones(size, dtype=np.float32), np.ones(size, dtype=np.float32)
    log_x = np.log(matrix.values).astype(np.float32)
    f_x = np.minimum(1.0, (matrix.values / settings.x_max) ** settings.alpha).astype(np.float32)
    eta, clip = np.float32(settings.eta), np.float32(settings.grad_clip)
    total = len(matrix)
    workers = min(settings.workers, total)
    share = total // workers
    spans = [(k * share, (k + 1) * share if k < workers - 1 else total) for k in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for epoch in range(1, settings.epochs + 1):
            order = rng.permutation(total)
            arrays = (matrix.rows[order], matrix.cols[order], log_x[order], f_x[order])
            del order
            futures = [
                pool.submit(train_span, w, c, bw, bc, gw, gc, gbw, gbc, *arrays, start, stop, eta, clip)
                for start, stop in spans
            ]
            cost = sum(future.result() for future in futures)
            if on_epoch is not None:
                on_epoch(epoch, cost / total)
    w += c
    return w
