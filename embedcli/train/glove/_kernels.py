"""The numba kernels of GloVe: counting pairs into a hash table, and one thread's span of AdaGrad updates.

Imported only when counting or training runs (numba compiles on first call, about a second each).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(nogil=True, inline="always")
def _slot(key, bits):  # type: ignore[no-untyped-def]
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(64 - bits))


@numba.njit(nogil=True, inline="always")
def _add(keys, values, bits, key, weight):  # type: ignore[no-untyped-def]
    """Add `weight` at `key`; True when the key was new."""
    mask = (1 << bits) - 1
    i = _slot(key, bits)
    while True:
        k = keys[i]
        if k == key:
            values[i] += weight
            return False
        if k == _EMPTY:
            keys[i] = key
            values[i] = weight
            return True
        i = (i + 1) & mask


@numba.njit(nogil=True, error_model="numpy", cache=True)
def rehash(keys, values, bits):  # type: ignore[no-untyped-def]
    """The same entries in a table of 2**bits slots."""
    new_keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
    new_values = np.zeros(1 << bits, dtype=np.float64)
    for i in range(keys.shape[0]):
        if keys[i] != _EMPTY:
            _add(new_keys, new_values, bits, keys[i], values[i])
    return new_keys, new_values


@numba.njit(nogil=True, error_model="numpy", cache=True)
def count_chunk(ids, ends, state, history, window, keys, values, bits, used, dense, dense_words, vocab_size, limit):  # type: ignore[no-untyped-def]
    """Add the pairs of the lines of one chunk; False (state kept, to resume) when the table needs to grow.

    `ids`: int64 word ids, -1 for a dropped word; `ends`: the end offset of each line in `ids`;
    `state`: (line, position, in-vocabulary tokens so far in the line), zero at the chunk's start;
    `history`: ring buffer of the last `window` in-vocabulary ids of the line.
    """
    line, pos, j = state[0], state[1], state[2]
    filled = used[0]
    while line < ends.shape[0]:
        end = ends[line]
        while pos < end:
            if filled + 2 * window > limit:
                state[0], state[1], state[2] = line, pos, j
                used[0] = filled
                return False
            right = ids[pos]
            pos += 1
            if right < 0:
                continue
            lowest = j - window if j > window else 0
            for k in range(j - 1, lowest - 1, -1):
                left = history[k % window]
                weight = 1.0 / (j - k)
                if left < dense_words and right < dense_words:
                    dense[left * dense_words + right] += weight
                    dense[right * dense_words + left] += weight
                else:
                    if _add(keys, values, bits, left * vocab_size + right, weight):
                        filled += 1
                    if _add(keys, values, bits, right * vocab_size + left, weight):
                        filled += 1
            history[j % window] = right
            j += 1
        line += 1
        j = 0
    state[0], state[1], state[2] = line, pos, j
    used[0] = filled
    return True


@numba.njit(nogil=True, error_model="numpy", cache=True)
def table_records(keys, values, dense, dense_words, vocab_size, nnz):  # type: ignore[no-untyped-def]
    """The (rows, cols, values) of the dense corner (row by row) then of the hash table (slot order)."""
    rows = np.empty(nnz, dtype=np.int32)
    cols = np.empty(nnz, dtype=np.int32)
    out = np.empty(nnz, dtype=np.float64)
    n = 0
    for i in range(dense.shape[0]):
        if dense[i] != 0.0:
            rows[n] = i // dense_words
            cols[n] = i % dense_words
            out[n] = dense[i]
            n += 1
    for i in range(keys.shape[0]):
        if keys[i] != _EMPTY:
            rows[n] = keys[i] // vocab_size
            cols[n] = keys[i] % vocab_size
            out[n] = values[i]
            n += 1
    return rows, cols, out


# No nnan/ninf: the update must see a NaN or infinite difference to skip it, as glove.c does.
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)
def train_span(w, c, bw, bc, gw, gc, gbw, gbc, rows, cols, log_x, f_x, start, stop, eta, clip):  # type: ignore[no-untyped-def]
    """glove.c's glove_thread over records start..stop: per-record AdaGrad; returns the summed cost.

    For record (i, j, x): diff = w_i·c_j + bw_i + bc_j − log x, fdiff = f(x)·diff, cost += ½·fdiff·diff.
    Vector step: g = clip(fdiff·c_j)·eta (and symmetrically for c_j), w_i −= g/√G_i, then G_i += g²; the update
    is skipped when a step is not finite. Bias step (no eta, no clip, as in glove.c): b −= fdiff/√G_b,
    G_b += fdiff². Accumulators G start at 1 (set by the caller).
    """
    dim = w.shape[1]
    cost = 0.0
    for r in range(start, stop):
        i = rows[r]
        j = cols[r]
        diff = bw[i] + bc[j] - log_x[r]
        for b in range(dim):
            diff += w[i, b] * c[j, b]
        fdiff = f_x[r] * diff
        if not (math.isfinite(diff) and math.isfinite(fdiff)):
            continue
        cost += 0.5 * fdiff * diff
        # glove.c computes all steps, then applies them unless their sum is not finite. With a finite fdiff the
        # clipped steps are finite (accumulators are >= 1), so applying each at once is the same update; the
        # old w[i, b] and c[j, b] are read before either is written.
        for b in range(dim):
            t1 = min(max(fdiff * c[j, b], -clip), clip) * eta
            t2 = min(max(fdiff * w[i, b], -clip), clip) * eta
            w[i, b] -= t1 / math.sqrt(gw[i, b])
            c[j, b] -= t2 / math.sqrt(gc[j, b])
            gw[i, b] += t1 * t1
            gc[j, b] += t2 * t2
        u = fdiff / math.sqrt(gbw[i])
        if math.isfinite(u):
            bw[i] -= u
        u = fdiff / math.sqrt(gbc[j])
        if math.isfinite(u):
            bc[j] -= u
        fdiff *= fdiff
        gbw[i] += fdiff
        gbc[j] += fdiff
    return cost
