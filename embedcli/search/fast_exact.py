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

Kernels: "bf16" (torch; only worth its ~2 s import on a large job, see `choose_kernel`) and "float32" (numpy).
Metrics: cosine, dot, euclidean; manhattan and hamming stay on `embedcli.search.top_k`'s path (a matmul does not score
them, or scores them exactly already).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embedcli.errors import UsageError
from embedcli.metrics import Metric
from embedcli.search.kernel_choice import choose_kernel, cpu_flags

__all__ = ["KERNELS", "LowCorpus", "SearchStats", "choose_kernel", "cpu_flags", "error_factor", "top_k_fast"]

KERNELS = ("bf16", "float32")
METRICS = (Metric.cosine, Metric.dot, Metric.euclidean)
BLOCK_ROWS = 16_384  # corpus rows scored together: 1,024 x 16,384 bf16 scores are 32 MiB
FIRST_ROWS = 2_048  # float32 kernel: rows of the first block, whose k-th best sets the first floors cheaply
QUERY_CHUNK = 1_024
GROUP = 256  # columns whose maximum is compared with the threshold before their elements
TORCH_GROUP = 64  # the same for bf16 blocks, whose kept groups are gathered and converted: smaller is cheaper
MAX_CANDIDATES = 4_096  # per query and block: beyond this the block is redone in float32 for that query
RESCORE_PAIRS = 16_384  # (query, row) pairs rescored together: two float64 arrays of 48 MiB at d = 384
U_BF16 = 2.0**-8
U_F32 = 2.0**-24
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
        up = 1 + _gamma(vectors.shape[1] + 2)  # float32 sums of squares, made upper bounds of the lengths
        for start in range(0, n, BLOCK_ROWS):
            block = np.asarray(vectors[start : start + BLOCK_ROWS], dtype=np.float32)
            rows = slice(start, start + len(block))
            sums = np.einsum("ij,ij->i", block, block)
            finite = np.isfinite(sums)
            lengths[rows] = np.where(finite, np.sqrt(sums.astype(np.float64)) * up, np.inf)
            if metric is Metric.euclidean:  # enters the approximate scores: as exact as float32 holds it
                squares[rows] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
            if kernel == "bf16":
                import torch

                clean = block if finite.all() else np.where(finite[:, None], block, np.float32(0))
                if not clean.flags.writeable:  # torch warns on read-only arrays (Arrow buffers, memory maps)
                    clean = clean.copy()
                low = torch.from_numpy(clean).to(torch.bfloat16)
                self.low.append(low)
                high = low.float().numpy()
                rest = clean - high  # exact in float32: the part bf16 rounded off
                for target, part in ((self.high_lengths, high), (self.rest_lengths, rest)):
                    target[rows] = np.sqrt(np.einsum("ij,ij->i", part, part).astype(np.float64)) * up
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
        return self.low[first][start - first * BLOCK_ROWS : stop - first * BLOCK_ROWS]


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


def _select_numpy(scores: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, column) of scores >= threshold[query], grouped by query: group maxima rule out most columns first."""
    n, width = scores.shape
    grouped = width - width % GROUP
    query, column = np.nonzero(scores[:, grouped:] >= threshold[:, None])
    column = column + grouped
    if grouped:
        groups = scores[:, :grouped].reshape(n, grouped // GROUP, GROUP)
        gq, gg = np.nonzero(groups.max(axis=2) >= threshold[:, None])
        inner, offset = np.nonzero(groups[gq, gg] >= threshold[gq][:, None])
        query = np.concatenate([gq[inner], query])
        column = np.concatenate([gg[inner] * GROUP + offset, column])
    order = np.argsort(query, kind="stable")
    return query[order], column[order]


def _select_torch(scores: Any, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_select_numpy` for a torch tensor: torch reduces the groups (one pass), numpy compares the few kept groups.

    torch's own comparisons and nonzero over a whole block cost more than the bf16 matmul that made it.
    """
    import torch

    n, width = scores.shape
    grouped = width - width % TORCH_GROUP
    query, column = np.nonzero(scores[:, grouped:].float().numpy() >= limit[:, None])
    column = column + grouped
    if grouped:
        groups = scores[:, :grouped].reshape(n, grouped // TORCH_GROUP, TORCH_GROUP)
        gq, gg = np.nonzero(groups.amax(dim=2).float().numpy() >= limit[:, None])
        kept = groups[torch.from_numpy(gq), torch.from_numpy(gg)].float().numpy()
        inner, offset = np.nonzero(kept >= limit[gq][:, None])
        query = np.concatenate([gq[inner], query])
        column = np.concatenate([gg[inner] * TORCH_GROUP + offset, column])
    order = np.argsort(query, kind="stable")
    return query[order], column[order]


class _Pass:
    """Approximate scores of a query chunk against blocks in one kernel, and what certifies them.

    For the bf16 kernel q = qh + ql (qh its bf16 rounding), c = ch + cl, and before the output is rounded
    |q.c - qh.ch| <= |ql||ch| + |qh||cl| + |ql||cl| + g_d |qh||ch| (Cauchy-Schwarz on the residuals, whose lengths are
    computed exactly per row; g_d for the float32 accumulation of the exact bf16 products). Rounding the output to
    bf16 adds at most w|out|, w = u/(1 - u), so the bound of a score depends on the score: see `keep_from`.
    """

    def __init__(self, kernel: str, metric: Metric, queries: np.ndarray) -> None:
        self.kernel, self.metric = kernel, metric
        self.dim = queries.shape[1]
        wide = queries.astype(np.float64)
        self.lengths = np.sqrt(np.einsum("ij,ij->i", wide, wide))
        self.low: Any = queries
        self.out = 0.0  # w: relative rounding of the output
        self.buffer = np.empty(0, np.float32)
        if kernel == "bf16":
            import torch

            self.low = torch.from_numpy(np.ascontiguousarray(queries)).to(torch.bfloat16)
            high = self.low.double().numpy()
            self.high_lengths = np.sqrt(np.einsum("ij,ij->i", high, high))
            rest = wide - high
            self.rest_lengths = np.sqrt(np.einsum("ij,ij->i", rest, rest))
            self.out = U_BF16 / (1 - U_BF16)

    def scores(self, block: Any, squares: np.ndarray, skip: np.ndarray) -> Any:
        """(chunk, block rows) approximate scores, higher is better; skipped columns -inf."""
        scores: Any
        if self.kernel == "bf16":
            import torch

            scores = torch.mm(self.low, block.T)
            if self.metric is Metric.euclidean:
                scores = scores.float().mul_(2).sub_(torch.from_numpy(squares))
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
        longest = float(corpus.lengths[start:stop].max(initial=0.0))
        if self.kernel == "bf16":
            high = float(corpus.high_lengths[start:stop].max(initial=0.0))
            rest = float(corpus.rest_lengths[start:stop].max(initial=0.0))
            qh, ql = self.high_lengths, self.rest_lengths
            error = ql * high + qh * rest + ql * rest + _gamma(self.dim) * qh * high
        else:
            error = _gamma(self.dim + 1) * self.lengths * longest
        error = error * (1 + 1e-9) + MARGIN * self.lengths * longest  # float64 rounding of the bound; see MARGIN
        if self.metric is Metric.euclidean:  # 2(q.c) - |c|^2, the bf16 output rounding taken at its largest
            product = self.lengths * longest * (1 + 4 * self.out)  # |out| <= (1 + e/|q||c|)(1 + u)|q||c|
            return 2 * (error + self.out * product) + (self.lengths + longest) ** 2 * EUCLIDEAN_MARGIN
        return error

    def lowest_true(self, approx: np.ndarray, error: np.ndarray) -> np.ndarray:
        """A lower bound of the exact score of rows scored `approx` (float64)."""
        if self.metric is Metric.euclidean:
            return approx - error
        return approx - error - self.out * np.abs(approx)

    def keep_from(self, floor: np.ndarray, error: np.ndarray) -> np.ndarray:
        """The lowest approximate score whose row may score >= `floor` exactly: a + e + w|a| >= floor, solved."""
        x = floor - error
        if self.metric is Metric.euclidean or self.out == 0:
            return x
        return np.where(x >= 0, x / (1 + self.out), x / (1 - self.out))

    def kth(self, scores: Any, k: int) -> np.ndarray:
        """Each query's k-th best approximate score (float64)."""
        if self.kernel == "bf16":
            import torch

            return torch.topk(scores, k, dim=1, sorted=False).values.amin(dim=1).double().numpy()
        return np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k].astype(np.float64)

    def select(self, scores: Any, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low = _round_down(threshold)
        return _select_torch(scores, low) if self.kernel == "bf16" else _select_numpy(scores, low)


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
    fast = _Pass(corpus.kernel, metric, chunk)
    top = _Top(len(chunk), k)
    for start, stop in spans:
        skip = corpus.skip[np.searchsorted(corpus.skip, start) : np.searchsorted(corpus.skip, stop)] - start
        squares = corpus.squares[start:stop]
        approx = fast.scores(corpus.block(start, stop), squares, skip)
        inside = (pairs[1] >= start) & (pairs[1] < stop)
        excluded = (pairs[0][inside], pairs[1][inside] - start)
        if len(excluded[0]):
            approx[excluded] = -np.inf
        query, column = fast.select(approx, _thresholds(fast, approx, top, fast.bound(corpus, start, stop), k))
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
            sub_query, sub_column = sub.select(
                sub_approx, _thresholds(sub, sub_approx, sub_top, sub.bound(corpus, start, stop), k)
            )
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


def _pairs_in(exclude: tuple[np.ndarray, np.ndarray] | None, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The excluded (query, row) pairs of queries lo:hi, query numbers made relative to lo."""
    if exclude is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    query, row = (np.asarray(part, dtype=np.int64) for part in exclude)
    a, b = np.searchsorted(query, [lo, hi])
    return query[a:b] - lo, row[a:b]


def _thresholds(fast: _Pass, approx: Any, top: _Top, error: np.ndarray, k: int) -> np.ndarray:
    """Per query, the lowest approximate score a row of this block needs to possibly reach the top k.

    The k-th best exact score so far is a floor no row below it can pass; before k rows are known, the k-th best
    approximate score of the block gives one (its k rows score at least `lowest_true` of it).
    """
    floor = top.floor.astype(np.float64)
    full = np.isfinite(floor)
    if fast.metric is Metric.euclidean:  # the floor is a negated distance; blocks rank by 2q.c - |c|^2 = |q|^2 - dist^2
        floor = np.where(full, fast.lengths**2 - floor**2, -np.inf)
    if not full.all() and approx.shape[1] >= k:
        floor = np.maximum(floor, fast.lowest_true(fast.kth(approx, k), error))
    return fast.keep_from(floor, error)
