"""Exact top-k through a certified low-precision pass: bf16 scores prune, float64 rescoring decides.

Every block of corpus rows is first scored in low precision (bf16 inputs, float32 accumulation: oneDNN/AMX through
torch), with a rigorous bound e on the error of each approximate score. With T the k-th best lower bound known for a
query (the k-th best approximate score of its first block minus e, or, once k rows are rescored, the k-th best exact
score), a row can only reach the top k when its approximate score is >= T - e, so only those rows (typically a few
per block) are rescored from the float32 vectors in float64 and merged; the rest are certified out. Ranking is by
(exact score rounded to float32, then lower row first), the same rule as `search.top_k`; the returned scores are
those exact scores, never the bf16 ones. A query whose candidate set in a block would grow past `max_candidates`
(a corpus of near-duplicates) is redone for that block with a float32 matmul and its much tighter bound.

The error bound (d terms; u = 2^-8, bf16's unit round-off; u32 = 2^-24; g_n = n u32 / (1 - n u32)). Write each
float32 row as its bf16 rounding plus a residual, q = qh + ql and c = ch + cl (ql, cl exact in float32). Then
  q.c - qh.ch = qh.cl + ql.ch + ql.cl             so |.| <= |qh||cl| + |ql||ch| + |ql||cl| (Cauchy-Schwarz)
  products qh_i ch_i in float32:                  exact (8-bit x 8-bit significands fit float32's 24 bits)
  float32 accumulation, any order or blocking:    |error| <= g_(d-1) sum |qh_i ch_i| <= g_(d-1) |qh||ch|
  rounding the output to bf16:                    |out - s^| <= u|s^| <= w|out|, w = u / (1 - u)
so |out - q.c| <= e + w|out|, with e from the lengths of each row's bf16 part and residual, computed once per row
(block maxima for the corpus side). The residuals are about 0.42u of a row's length, so for random unit rows of
d = 384 e is 0.0037 (the plain (1 + u)^2 bound: 0.0078; observed errors: at most 0.0009), and the output term is
u times the score near the k-th best, not u |q||c|. `error_factor` gives the coarse worst case f = (1 + u)^3 (1 + g)
- 1 ~= 0.0118 with |approx - q.c| <= f sum |q_i||c_i| <= f |q||c|.
A row is kept when out + e + w|out| >= L, L a lower bound of the k-th best exact score: the k-th exact score so
far, or before k rows are known the block's k-th best `out` minus its bound. A margin of 2^-20 |q||c| more covers
the float32 rounding of the exact scores (a row whose exact score rounds to a tie with the k-th still enters) and
the float64 rescoring. This assumes the bf16 matmul accumulates in float32 without rounding partial sums to bf16,
which is what oneDNN's AMX/AVX512-BF16 kernels do; a test checks the bound on every pair of adversarial data. The
float32 pass has e = g_(d+1) |q||c| (product and accumulation rounding). Euclidean ranks by 2q.c - |c|^2 (as
`embedcli.metrics`): its bound is 2(e + w|q||c|(1 + 4w)) plus (|q| + |c|)^2 2^-20 for the float32 arithmetic
around it.

Memory: the bf16 copy of the corpus (half its float32 size) stays resident in `LowCorpus`, beside one score block
of query chunk x 16,384 rows; the float32 rows are read a block at a time (a memory map is fine) for rescoring.
A corpus whose bf16 copy would not fit in RAM belongs on `embedcli.search.top_k`'s streaming path.

Kernels: "bf16" (torch; only worth its ~2 s import on a large job, see `choose_kernel`), "int8" (onnxruntime's
integer products, `int8_product`: a cheap import, and VNNI/AMX or AVX2; its bound is about 5x bf16's, so it rescores
more rows) and "float32" (numpy). The int8 bound has the same form as bf16's: each row is its levels times its scale
(exact in float64) plus a residual whose length is computed per row; the integer sums are exact, and the output is
the sum times the corpus row's scale rounded once to float32 (w = 2^-22 also covers euclidean's scaling by 2 x the
query's scale). Candidates are first kept under the block's largest residuals, then under their own rows'.
Metrics: cosine, dot, euclidean; manhattan and hamming stay on `embedcli.search.top_k`'s path (a matmul does not score
them, or scores them exactly already).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedcli.errors import UsageError
from embedcli.metrics import Metric
from embedcli.search.int8_product import QUERY_LEVELS, ZERO_POINT, IntegerProduct, corpus_levels, quantize_rows
from embedcli.search.kernel_choice import choose_kernel, cpu_flags

__all__ = [
    "KERNELS",
    "LowCorpus",
    "SearchStats",
    "choose_kernel",
    "cpu_flags",
    "error_factor",
    "measure_rates",
    "top_k_fast",
]

KERNELS = ("bf16", "int8", "float32")
METRICS = (Metric.cosine, Metric.dot, Metric.euclidean)
BLOCK_ROWS = 16_384  # corpus rows scored together: 1,024 x 16,384 bf16 scores are 32 MiB
FIRST_ROWS = 2_048  # float32 kernel: rows of the first block, whose k-th best sets the first floors cheaply
QUERY_CHUNK = 1_024
GROUP = 256  # columns whose maximum is compared with the threshold before their elements
TORCH_GROUP = 128  # the same for bf16 blocks: torch's bf16 maxima over 128 columns cost 0.7x those over 64
MAX_CANDIDATES = 4_096  # per query and block: beyond this the block is redone in float32 for that query
RESCORE_PAIRS = 16_384  # (query, row) pairs rescored together: two float64 arrays of 48 MiB at d = 384
U_BF16 = 2.0**-8
U_F32 = 2.0**-24
U_INT8_OUT = 2.0**-22  # int8 outputs: the exact integer product times a scale, rounded once or twice to float32
MARGIN = 2.0**-20  # float32 rounding of the exact scores, float64 rescoring error
EUCLIDEAN_MARGIN = 2.0**-20  # float32 |c|^2 and subtraction (2^-22), the floor's |q|^2 - dist^2 (2^-23), slack


def _gamma(n: int, unit: float = U_F32) -> float:
    return n * unit / (1 - n * unit)


def error_factor(kernel: str, dim: int) -> float:
    """f such that |approximate q.c - q.c| <= f * |q| * |c| for the kernel's scores of `dim`-dimensional rows."""
    if kernel == "bf16":
        return (1 + U_BF16) ** 3 * (1 + _gamma(max(dim - 1, 0))) - 1
    if kernel == "float32":
        return _gamma(dim + 1)
    if kernel == "int8":  # residual of a row <= sqrt(d) s/2 <= sqrt(d)/(2 levels) of its length, at 63 levels
        residual = dim**0.5 / (2 * 63)
        return (1 + residual) ** 2 * (1 + U_INT8_OUT) - 1
    raise UsageError(f"unknown exact kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")


class LowCorpus:
    """Prepared float32 corpus rows with their low-precision copy, per-row lengths and rows to skip.

    `vectors` (n, d) float32, prepared for `metric` (unit rows for cosine, as `metrics.prepare`), possibly a memory
    map. Rows with a NaN/Inf (and rows in `skip`) are never hits. The bf16 copy (half the float32 size) is made
    once here, a block at a time, so a corpus queried several times is converted once.
    """

    def __init__(
        self, vectors: np.ndarray, metric: Metric, kernel: str = "bf16", skip: np.ndarray | None = None
    ) -> None:
        if metric not in METRICS:
            raise UsageError(f"the fast exact search does not score {metric.value}; use embedcli.search.top_k")
        error_factor(kernel, 1)  # validates the name
        self.vectors, self.metric, self.kernel = vectors, metric, kernel
        n = len(vectors)
        lengths = np.empty(n, np.float64)
        squares = np.zeros(n, np.float32)
        self.high_lengths = np.zeros(n, np.float64)
        self.rest_lengths = np.zeros(n, np.float64)
        self.low: list[Any] = []
        self.product = IntegerProduct() if kernel == "int8" else None  # one onnxruntime session for every search
        up = 1 + _gamma(vectors.shape[1] + 2)  # float32 sums of squares, made upper bounds of the lengths
        levels = corpus_levels(cpu_flags()) if kernel == "int8" else 0
        for start in range(0, n, BLOCK_ROWS):
            block = np.asarray(vectors[start : start + BLOCK_ROWS], dtype=np.float32)
            rows = slice(start, start + len(block))
            sums = np.einsum("ij,ij->i", block, block)
            finite = np.isfinite(sums)
            lengths[rows] = np.where(finite, np.sqrt(sums.astype(np.float64)) * up, np.inf)
            if metric is Metric.euclidean:  # enters the approximate scores: as exact as float32 holds it
                squares[rows] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
            if kernel == "float32":
                continue
            clean = block if finite.all() else np.where(finite[:, None], block, np.float32(0))
            if kernel == "bf16":
                import torch

                if not clean.flags.writeable:  # torch warns on read-only arrays (Arrow buffers, memory maps)
                    clean = clean.copy()
                low = torch.from_numpy(clean).to(torch.bfloat16)
                self.low.append(low)
                high = low.double().numpy()
            else:  # int8: stored as the columns of the integer product (d, rows), one scale per row
                ints, scales = quantize_rows(clean, levels)
                self.low.append((np.ascontiguousarray(ints.T), scales))
                high = ints.astype(np.float64) * scales.astype(np.float64)[:, None]  # exact: 8 x 24 bits
            rest = clean - high  # bf16: exact in float32; int8: in float64, below float32's last bit of `clean`
            for target, part in ((self.high_lengths, high), (self.rest_lengths, rest)):
                target[rows] = np.sqrt(np.einsum("ij,ij->i", part, part)) * up
        bad = ~np.isfinite(lengths)
        if skip is not None and len(skip):
            bad[np.asarray(skip, dtype=np.int64)] = True
        self.skip = np.flatnonzero(bad)
        self.lengths = np.where(bad, 0.0, lengths)
        self.squares = np.where(bad, np.float32(0), squares)

    def __len__(self) -> int:
        return len(self.vectors)

    def block(self, start: int, stop: int) -> Any:
        """The low-precision rows start:stop (a torch bf16 tensor), or the float32 rows for the float32 kernel."""
        if self.kernel == "float32":
            return np.asarray(self.vectors[start:stop], dtype=np.float32)
        first = start // BLOCK_ROWS  # blocks never straddle a stored block (`_spans`)
        rows = slice(start - first * BLOCK_ROWS, stop - first * BLOCK_ROWS)
        if self.kernel == "int8":
            columns, scales = self.low[first]
            return columns[:, rows], scales[rows]
        return self.low[first][rows]


@dataclass
class SearchStats:
    """What a search did: rows rescored exactly, and (query, block) pairs redone in float32 (near-duplicates)."""

    candidates: int = 0
    fallbacks: int = 0


def _spans(n: int, first: int, rows: int) -> list[tuple[int, int]]:
    """Blocks of at most `rows` rows that never straddle a BLOCK_ROWS boundary, the first one `first` rows."""
    spans, start = [], 0
    while start < n:
        size = first if start == 0 else rows
        stop = min(start + size, n, (start // BLOCK_ROWS + 1) * BLOCK_ROWS)
        spans.append((start, stop))
        start = stop
    return spans


class _Top:
    """The k best (exact float32 score, row) of each query of a chunk, ranked by score then lower row."""

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.scores = np.full((n, k), -np.inf, np.float32)
        self.rows = np.full((n, k), -1, np.int64)

    @property
    def floor(self) -> np.ndarray:
        return self.scores[:, -1]

    def merge(self, query: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> None:
        """Merge candidates (query, corpus row, exact score), grouped by query in increasing order."""
        if not len(query):
            return
        k = self.k
        counts = np.bincount(query, minlength=len(self.scores))
        touched = np.flatnonzero(counts)
        width = k + int(counts.max())
        slot = np.arange(len(query)) - (np.cumsum(counts) - counts)[query] + k
        local = np.searchsorted(touched, query)
        merged_scores = np.full((len(touched), width), -np.inf, np.float32)
        merged_rows = np.full((len(touched), width), np.iinfo(np.int64).max, np.int64)
        merged_scores[:, :k] = self.scores[touched]
        merged_rows[:, :k] = np.where(self.rows[touched] < 0, np.iinfo(np.int64).max, self.rows[touched])
        merged_scores[local, slot], merged_rows[local, slot] = scores, rows
        best = np.lexsort((merged_rows, -merged_scores), axis=1)[:, :k]
        kept_scores = np.take_along_axis(merged_scores, best, 1)
        kept_rows = np.take_along_axis(merged_rows, best, 1)
        self.scores[touched] = kept_scores
        self.rows[touched] = np.where(np.isfinite(kept_scores), kept_rows, -1)


def _exact(metric: Metric, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact scores of paired float32 rows (n, d) in float64, rounded to float32: q.c, or -|q - c| for euclidean.

    float32 products are exact in float64; einsum casts in small buffers, so no float64 copy of the pairs is made.
    """
    if metric is Metric.euclidean:
        difference = rows.astype(np.float64) - queries
        return (-np.sqrt(np.einsum("ij,ij->i", difference, difference))).astype(np.float32)
    return np.einsum("ij,ij->i", queries, rows, dtype=np.float64).astype(np.float32)


def _group_maxima(scores: Any, group: int) -> np.ndarray:
    """(n, groups) float32: the best score of each run of `group` columns (the last run may be shorter).

    One pass over the block; the few groups whose best reaches a query's threshold are then read element by element
    (`_in_groups`), and the k-th best group maximum is a floor of the block's k-th best score (k distinct rows).
    """
    n, width = scores.shape
    grouped = width - width % group
    parts = []
    if grouped:
        runs = scores[:, :grouped].reshape(n, grouped // group, group)
        parts.append(runs.amax(dim=2).float().numpy() if hasattr(runs, "amax") else runs.max(axis=2))
    if grouped < width:
        tail = scores[:, grouped:]
        torch_tail = hasattr(tail, "amax")
        parts.append(tail.amax(dim=1, keepdim=True).float().numpy() if torch_tail else tail.max(1, keepdims=True))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _gather(scores: Any, *index: Any) -> np.ndarray:
    """scores[index] as float32 numpy: a torch tensor is indexed with torch index arrays, then converted."""
    if not hasattr(scores, "amax"):
        return np.asarray(scores[index])
    import torch

    return scores[tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index)].float().numpy()


def _in_groups(scores: Any, maxima: np.ndarray, group: int, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, column) of scores >= limit[query], grouped by query: only the groups whose maximum reaches the
    limit are gathered (whole runs of `group` columns; torch: then converted to float32 numpy) and compared."""
    n, width = scores.shape
    runs = width // group
    gq, gg = np.nonzero(maxima >= limit[:, None])
    full = gg < runs
    queries, columns = [], []
    fq, fg = gq[full], gg[full]
    if len(fq):
        values = _gather(scores[:, : runs * group].reshape(n, runs, group), fq, fg)
        inner, offset = np.nonzero(values >= limit[fq][:, None])
        queries.append(fq[inner])
        columns.append(fg[inner] * group + offset)
    tq = gq[~full]  # the short last run, at most once per query
    if len(tq):
        inner, offset = np.nonzero(_gather(scores, tq, slice(runs * group, None)) >= limit[tq][:, None])
        queries.append(tq[inner])
        columns.append(runs * group + offset)
    if not queries:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    query, column = np.concatenate(queries), np.concatenate(columns)
    order = np.argsort(query, kind="stable")
    return query[order], column[order]


class _Pass:
    """Approximate scores of a query chunk against blocks in one kernel, and what certifies them.

    For the bf16 and int8 kernels q = qh + ql (qh its bf16 rounding, or its int8 levels times the row's scale),
    c = ch + cl, and before the output is rounded |q.c - qh.ch| <= |ql||ch| + |qh||cl| + |ql||cl| (+ g_d |qh||ch|
    for bf16's float32 accumulation of its exact products; int8's integer sums are exact) by Cauchy-Schwarz on the
    residuals, whose lengths are computed per row. Rounding the output adds at most w|out| (bf16: w = u/(1 - u);
    int8: a scaling or two in float32), so the bound of a score depends on the score: see `keep_from`.

    int8 scores of cosine and dot stay divided by the query's scale (multiplying every score back would be one more
    pass over the block): `scale` holds it, and `kth` and `select` convert between the two.
    """

    def __init__(self, kernel: str, metric: Metric, queries: np.ndarray, product: IntegerProduct | None = None) -> None:
        self.kernel, self.metric = kernel, metric
        self.dim = queries.shape[1]
        wide = queries.astype(np.float64)
        self.lengths = np.sqrt(np.einsum("ij,ij->i", wide, wide))
        self.high_lengths = self.lengths
        self.low: Any = queries
        self.out = 0.0  # w: relative rounding of the output
        self.accumulation = _gamma(self.dim)  # bf16: float32 sums of exact products
        self.scale = np.ones(len(queries))
        self.buffer = np.empty(0, np.float32)
        self.torch_buffer: Any = None
        self.group = TORCH_GROUP if kernel == "bf16" else GROUP
        high: np.ndarray | None = None
        if kernel == "bf16":
            import torch

            self.low = torch.from_numpy(np.ascontiguousarray(queries)).to(torch.bfloat16)
            high = self.low.double().numpy()
            self.out = U_BF16 / (1 - U_BF16)
        elif kernel == "int8":
            ints, scales = quantize_rows(queries, QUERY_LEVELS)
            self.low = (ints.astype(np.int16) + ZERO_POINT).astype(np.uint8)
            self.product = product or IntegerProduct()
            high = ints.astype(np.float64) * scales.astype(np.float64)[:, None]
            self.out, self.accumulation = U_INT8_OUT, 0.0
            if metric is not Metric.euclidean:
                self.scale = scales.astype(np.float64)
            else:
                self.double_scales = (2 * scales)[:, None]  # exact: a power of two times a float32
        if high is not None:
            self.high_lengths = np.sqrt(np.einsum("ij,ij->i", high, high))
            rest = wide - high
            self.rest_lengths = np.sqrt(np.einsum("ij,ij->i", rest, rest))

    def scores(self, block: Any, squares: np.ndarray, skip: np.ndarray) -> Any:
        """(chunk, block rows) approximate scores (divided by `scale`), higher is better; skipped columns -inf."""
        scores: Any
        if self.kernel == "bf16":
            import torch

            size = len(self.low) * len(block)
            if self.torch_buffer is None or self.torch_buffer.numel() < size:
                self.torch_buffer = torch.empty(size, dtype=torch.bfloat16)
            scores = self.torch_buffer[:size].view(len(self.low), len(block))
            torch.mm(self.low, block.T, out=scores)  # into one buffer: a fresh 32 MiB per block costs page faults
            if self.metric is Metric.euclidean:
                scores = scores.float().mul_(2).sub_(torch.from_numpy(squares))
        elif self.kernel == "int8":
            columns, scales = block
            scores = self.product(self.low, columns, scales)  # overwritten by the next block: used before then
            if self.metric is Metric.euclidean:
                scores *= self.double_scales
                scores -= squares
        else:
            size = len(self.low) * len(block)
            if len(self.buffer) < size:  # one buffer for every block: a fresh one per block costs page faults
                self.buffer = np.empty(size, np.float32)
            scores = np.matmul(self.low, block.T, out=self.buffer[:size].reshape(len(self.low), len(block)))
            if self.metric is Metric.euclidean:
                scores *= 2
                scores -= squares
        if len(skip):
            scores[:, skip] = -np.inf
        return scores

    def bound(self, corpus: LowCorpus, start: int, stop: int) -> np.ndarray:
        """Per query: the score-independent part of the error of any approximate score of rows start:stop."""
        rows = slice(start, stop)
        longest = float(corpus.lengths[rows].max(initial=0.0))
        if self.kernel == "float32":
            return self._error(slice(None), longest, longest, 0.0)
        high, rest = (float(part[rows].max(initial=0.0)) for part in (corpus.high_lengths, corpus.rest_lengths))
        return self._error(slice(None), longest, high, rest)

    def pair_bound(self, corpus: LowCorpus, query: np.ndarray, row: np.ndarray) -> np.ndarray:
        """`bound` for single (query, corpus row) pairs: each row's own lengths instead of the block's largest."""
        if self.kernel == "float32":
            return self._error(query, corpus.lengths[row], corpus.lengths[row], 0.0)
        return self._error(query, corpus.lengths[row], corpus.high_lengths[row], corpus.rest_lengths[row])

    def _error(self, query: Any, longest: Any, high: Any, rest: Any) -> np.ndarray:
        """The bound of queries `query` against rows of length `longest`, low-precision part `high`, residual
        `rest` (scalars for a block, arrays for pairs)."""
        length = self.lengths[query]
        if self.kernel == "float32":
            error = _gamma(self.dim + 1) * length * longest
        else:
            qh, ql = self.high_lengths[query], self.rest_lengths[query]
            error = ql * high + qh * rest + ql * rest + self.accumulation * qh * high
        error = error * (1 + 1e-9) + MARGIN * length * longest  # float64 rounding of the bound; see MARGIN
        if self.metric is Metric.euclidean:  # 2(q.c) - |c|^2, the output rounding taken at its largest
            product = self.high_lengths[query] * high * (1 + self.accumulation) * (1 + 4 * self.out)  # >= |out|
            return 2 * (error + self.out * product) + (length + longest) ** 2 * EUCLIDEAN_MARGIN
        return error

    def refine(
        self, corpus: LowCorpus, scores: Any, floor: np.ndarray, query: np.ndarray, column: np.ndarray, start: int
    ) -> np.ndarray:
        """Which selected pairs may still reach the floor (true scale) under their own rows' bounds."""
        if not len(query):
            return np.ones(0, bool)
        values = _gather(scores, query, column).astype(np.float64) * self.scale[query]
        return self.highest_true(values, self.pair_bound(corpus, query, column + start)) >= floor[query]

    def lowest_true(self, approx: np.ndarray, error: np.ndarray) -> np.ndarray:
        """A lower bound of the exact score of rows scored `approx` (float64, in the true scale)."""
        if self.metric is Metric.euclidean:
            return approx - error
        return approx - error - self.out * np.abs(approx)

    def highest_true(self, approx: np.ndarray, error: np.ndarray) -> np.ndarray:
        """An upper bound of the exact score of rows scored `approx` (float64, in the true scale)."""
        if self.metric is Metric.euclidean:
            return approx + error
        return approx + error + self.out * np.abs(approx)

    def keep_from(self, floor: np.ndarray, error: np.ndarray) -> np.ndarray:
        """The lowest approximate score whose row may score >= `floor` exactly: a + e + w|a| >= floor, solved."""
        x = floor - error
        if self.metric is Metric.euclidean or self.out == 0:
            return x
        return np.where(x >= 0, x / (1 + self.out), x / (1 - self.out))

    def kth(self, scores: Any, maxima: np.ndarray, k: int) -> np.ndarray:
        """A floor of each query's k-th best approximate score (float64, in the true scale): the k-th best group
        maximum, or where there are fewer groups than k, the k-th best score itself."""
        if maxima.shape[1] >= k:
            kth = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
        elif self.kernel == "bf16":
            kth = _torch_kth(scores, k)
        else:
            kth = np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k]
        return kth.astype(np.float64) * self.scale

    def maxima(self, scores: Any) -> np.ndarray:
        return _group_maxima(scores, self.group)

    def select(self, scores: Any, maxima: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query, column) of the rows whose approximate score reaches the query's threshold (true scale)."""
        return _in_groups(scores, maxima, self.group, _round_down(threshold / self.scale))


def _torch_kth(scores: Any, k: int) -> np.ndarray:
    import torch

    return torch.topk(scores, k, dim=1, sorted=False).values.amin(dim=1).float().numpy()


def _round_down(values: np.ndarray) -> np.ndarray:
    """float64 thresholds as float32 no larger (a comparison against them keeps everything it must)."""
    low = values.astype(np.float32)
    low = np.where(low > values, np.nextafter(low, np.float32(-np.inf)), low)
    return np.maximum(low, -np.finfo(np.float32).max)  # never -inf: skipped columns stay out


def top_k_fast(
    queries: np.ndarray,
    corpus: np.ndarray | LowCorpus,
    k: int,
    metric: Metric,
    kernel: str | None = None,
    skip: np.ndarray | None = None,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    block_rows: int = BLOCK_ROWS,
    query_chunk: int = QUERY_CHUNK,
    max_candidates: int = MAX_CANDIDATES,
    stats: SearchStats | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best corpus rows of every query, exactly: (rows int64 (q, k), scores float32 (q, k)), best first.

    `queries` (q, d) and `corpus` (n, d) are float32 rows prepared for `metric` (`metrics.prepare`: unit rows for
    cosine), or `corpus` is a `LowCorpus` made once for several calls (its kernel is then used). Scores are
    "higher is better" (euclidean: the negated distance), computed exactly from the float32 rows and rounded to
    float32; ties rank the lower row first. Rows with NaN/Inf or listed in `skip` are never hits; where fewer than
    k rows are eligible the tail is row -1, score -inf. `kernel` defaults to `choose_kernel` for this job.
    `exclude` is a pair of arrays (query numbers, corpus rows) that must not be hits, sorted by query number (as
    `embedcli.search.top_k.search` takes it: a corpus searched against itself). `stats`, when given, counts the rescored
    candidates and the (query, block) pairs redone in float32.
    Raises UsageError for manhattan/hamming (not scored here) or a dimension mismatch.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not isinstance(corpus, LowCorpus):
        if kernel is None:
            kernel = choose_kernel(len(queries), len(corpus), queries.shape[1])
        corpus = LowCorpus(corpus, metric, kernel, skip)
    if corpus.metric is not metric:
        raise UsageError(f"the corpus was prepared for {corpus.metric.value}, not {metric.value}")
    if queries.ndim != 2 or corpus.vectors.ndim != 2 or queries.shape[1] != corpus.vectors.shape[1]:
        raise UsageError(f"queries of shape {queries.shape} do not match a corpus of shape {corpus.vectors.shape}")
    k = max(1, k)
    rows = np.full((len(queries), k), -1, np.int64)
    scores = np.full((len(queries), k), -np.inf, np.float32)
    if corpus.kernel == "float32":  # as embedcli.search.top_k: one score block of about 32 MiB
        block_rows = min(block_rows, (32 << 20) // (4 * max(1, min(query_chunk, len(queries)))))
    block_rows = max(block_rows - block_rows % GROUP, GROUP)
    first = block_rows if corpus.kernel == "bf16" else min(block_rows, max(FIRST_ROWS, 8 * k))
    spans = _spans(len(corpus), first, block_rows)
    for start in range(0, len(queries), query_chunk):
        chunk = queries[start : start + query_chunk]
        pairs = _pairs_in(exclude, start, start + len(chunk))
        top = _search_chunk(chunk, corpus, k, spans, max_candidates, pairs, stats or SearchStats())
        rows[start : start + len(chunk)], scores[start : start + len(chunk)] = top.rows, top.scores
    return rows, scores


def _search_chunk(
    chunk: np.ndarray,
    corpus: LowCorpus,
    k: int,
    spans: list[tuple[int, int]],
    max_candidates: int,
    pairs: tuple[np.ndarray, np.ndarray],
    stats: SearchStats,
) -> _Top:
    metric = corpus.metric
    fast = _Pass(corpus.kernel, metric, chunk, corpus.product)
    top = _Top(len(chunk), k)
    for start, stop in spans:
        skip = corpus.skip[np.searchsorted(corpus.skip, start) : np.searchsorted(corpus.skip, stop)] - start
        squares = corpus.squares[start:stop]
        approx = fast.scores(corpus.block(start, stop), squares, skip)
        inside = (pairs[1] >= start) & (pairs[1] < stop)
        excluded = (pairs[0][inside], pairs[1][inside] - start)
        if len(excluded[0]):
            approx[excluded] = -np.inf
        maxima = fast.maxima(approx)
        floor, threshold = _thresholds(fast, approx, maxima, top, fast.bound(corpus, start, stop), k)
        query, column = fast.select(approx, maxima, threshold)
        keep = fast.refine(corpus, approx, floor, query, column, start)
        query, column = query[keep], column[keep]
        counts = np.bincount(query, minlength=len(chunk))
        crowded = np.flatnonzero(counts > max_candidates)
        floats = np.asarray(corpus.vectors[start:stop], dtype=np.float32)
        if len(crowded):  # near-duplicates: redo these queries' block in float32, whose bound is far tighter
            keep = counts[query] <= max_candidates
            query, column = query[keep], column[keep]
            sub = _Pass("float32", metric, chunk[crowded])
            sub_top = _Top(len(crowded), k)
            sub_top.scores, sub_top.rows = top.scores[crowded], top.rows[crowded]
            sub_approx = sub.scores(floats, squares, skip)
            member = np.isin(excluded[0], crowded)
            sub_approx[np.searchsorted(crowded, excluded[0][member]), excluded[1][member]] = -np.inf
            sub_maxima = sub.maxima(sub_approx)
            _, sub_threshold = _thresholds(sub, sub_approx, sub_maxima, sub_top, sub.bound(corpus, start, stop), k)
            sub_query, sub_column = sub.select(sub_approx, sub_maxima, sub_threshold)
            query = np.concatenate([query, crowded[sub_query]])
            column = np.concatenate([column, sub_column])
            order = np.argsort(query, kind="stable")
            query, column = query[order], column[order]
        stats.candidates += len(query)
        stats.fallbacks += len(crowded)
        found = np.empty(len(query), np.float32)
        for at in range(0, len(query), RESCORE_PAIRS):  # bounded memory however many candidates a block brings
            part = slice(at, at + RESCORE_PAIRS)
            found[part] = _exact(metric, chunk[query[part]], floats[column[part]])
        top.merge(query, column + start, found)
    return top


def measure_rates(kernels: list[str]) -> dict[str, float]:
    """Multiply-adds per second of a whole search (1,024 queries, k 10, 131,072 unit rows of d 384) with each kernel
    as `similar` runs it: "float32" is `top_k.search` (where the choice sends float32 jobs), the others
    `top_k_fast`. Smaller corpora understate the low-precision kernels (their first blocks, before the top k is
    known, rescore the most). Takes a few seconds plus the libraries' imports; `kernel_choice` caches the figures."""
    from embedcli.search.top_k import SearchCorpus, search

    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((131_072, 384), dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    noise = rng.normal(0, 0.05, (1024, 384)).astype(np.float32)  # queries near some row, as real ones are
    queries = corpus[rng.choice(len(corpus), len(noise), replace=False)] + noise

    def run(kernel: str, prepared: Any, chosen: np.ndarray) -> None:
        if kernel == "float32":
            for _ in search(chosen, prepared, 10):
                pass
        else:
            top_k_fast(chosen, prepared, 10, Metric.dot)

    rates = {}
    for kernel in kernels:
        prepared = SearchCorpus(corpus, Metric.dot) if kernel == "float32" else LowCorpus(corpus, Metric.dot, kernel)
        run(kernel, prepared, queries[:64])  # warm-up: threads, buffers, the session
        started = time.perf_counter()
        run(kernel, prepared, queries)
        rates[kernel] = queries.size * len(corpus) / (time.perf_counter() - started)
    return rates


def _pairs_in(exclude: tuple[np.ndarray, np.ndarray] | None, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The excluded (query, row) pairs of queries lo:hi, query numbers made relative to lo."""
    if exclude is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    query, row = (np.asarray(part, dtype=np.int64) for part in exclude)
    a, b = np.searchsorted(query, [lo, hi])
    return query[a:b] - lo, row[a:b]


def _thresholds(
    fast: _Pass, approx: Any, maxima: np.ndarray, top: _Top, error: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, (a floor of the k-th best exact score, the lowest approximate score a row of this block needs to
    possibly reach it under the block's bound `error`).

    Two floors no row below them can pass: the k-th best exact score so far, and the block's own: k distinct rows
    of it score at least the k-th best group maximum, so at least `lowest_true` of it exactly. The block's floor
    matters most early on, when the rows seen so far are few.
    """
    floor = top.floor.astype(np.float64)
    full = np.isfinite(floor)
    if fast.metric is Metric.euclidean:  # the floor is a negated distance; blocks rank by 2q.c - |c|^2 = |q|^2 - dist^2
        floor = np.where(full, fast.lengths**2 - floor**2, -np.inf)
    if approx.shape[1] >= k:
        floor = np.maximum(floor, fast.lowest_true(fast.kth(approx, maxima, k), error))
    return floor, fast.keep_from(floor, error)
