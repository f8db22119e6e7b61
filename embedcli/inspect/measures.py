"""Estimators of the known weaknesses of embeddings, measured on a sample of rows.

Every function takes float32 rows (n, dim) already sampled, finite, and (where it says so) deduplicated, and
returns a small dataclass of plain numbers. Distances follow the corpus metric: euclidean, manhattan and hamming
as themselves; cosine as the chord distance sqrt(2 - 2 cos) between unit rows (a true metric, and a monotone
function of the cosine, so neighbours are the cosine search's neighbours; the squared form 1 - cos would halve
distance ratios and so halve TwoNN's dimension); dot products are no distance, so distance-based measures of a
dot-product corpus use euclidean distance.

References:
- Beyer, Goldstein, Ramakrishnan, Shaft (1999). When is "nearest neighbor" meaningful? ICDT.
- Aggarwal, Hinneburg, Keim (2001). On the surprising behavior of distance metrics in high dimensional space. ICDT.
- Radovanović, Nanopoulos, Ivanović (2010). Hubs in space: popular nearest neighbors in high-dimensional data.
  JMLR 11.
- Feldbauer, Leodolter, Tomasev, Flexer (2018). Fast approximate hubness reduction for large high-dimensional data.
  ICBK (the Robin Hood index, as scikit-hubness computes it).
- Facco, d'Errico, Rodriguez, Laio (2017). Estimating the intrinsic dimension of datasets by a minimal
  neighborhood information. Scientific Reports 7 (TwoNN).
- Levina, Bickel (2004). Maximum likelihood estimation of intrinsic dimension. NIPS.
- Ethayarajh (2019). How contextual are contextualized word representations? EMNLP (anisotropy).
- Roy, Vetterli (2007). The effective rank: a measure of effective dimensionality. EUSIPCO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embedcli.errors import InputError
from embedcli.metrics import Metric, block_aux, exact, prepare, score_block

KnnFn = Callable[[np.ndarray, int, Metric], tuple[np.ndarray, np.ndarray]]
"""knn(vectors, k, metric) -> (indices (n, k) int64, scores (n, k) float32): each row's k nearest other rows
(never itself), best first, with internal scores (higher is better: similarities, or negated distances)."""

VARIANCE_TARGETS = (0.9, 0.95, 0.99)


def exact_knn(vectors: np.ndarray, k: int, metric: Metric, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows by brute force, `block` query rows at a time; self is never a neighbour.

    vectors: (n, dim) float rows, n > k >= 1. Returns indices (n, k) int64 and internal scores (n, k) float32, best
    first. Raises InputError when there are not more than k rows.
    """
    n = len(vectors)
    if not 0 < k < n:
        raise InputError(f"a {k}-nearest-neighbour graph needs more than {k} rows; got {n}")
    prepared = prepare(metric, vectors)
    aux = block_aux(metric, prepared)
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        queries = prepared[start : start + block]
        rows = np.arange(len(queries))
        block_scores = np.array(score_block(metric, queries, prepared, aux), dtype=np.float32)
        block_scores[rows, start + rows] = -np.inf
        top = np.argpartition(-block_scores, k - 1, axis=1)[:, :k]
        true = exact(metric, queries, prepared[top])  # block scores may only rank like the true ones
        order = np.argsort(-true, axis=1, kind="stable")
        indices[start : start + len(queries)] = np.take_along_axis(top, order, 1)
        scores[start : start + len(queries)] = np.take_along_axis(true, order, 1)
    return indices, scores


def distance_metric(metric: Metric) -> Metric:
    """The metric distance-based measures use: the corpus metric, except euclidean for dot products."""
    return Metric.euclidean if metric is Metric.dot else metric


def score_distances(metric: Metric, scores: np.ndarray) -> np.ndarray:
    """Internal scores of `distance_metric(metric)` as float64 distances (cosine: the chord sqrt(2 - 2 cos))."""
    scores = np.asarray(scores, dtype=np.float64)
    if metric is Metric.cosine:
        return np.sqrt(np.maximum(2.0 - 2.0 * scores, 0.0))
    if metric is Metric.dot:
        raise ValueError("dot products are not distances; search with distance_metric(metric)")
    return np.maximum(-scores, 0.0)


def pairwise_distances(metric: Metric, queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Every distance (len(queries), len(corpus)) in float64, in `distance_metric(metric)`."""
    metric = distance_metric(metric)
    q, c = np.asarray(queries, np.float64), np.asarray(corpus, np.float64)
    if metric is Metric.manhattan:
        from scipy.spatial.distance import cdist

        return cdist(q, c, "cityblock")
    if metric is Metric.hamming:  # ±1 sign rows: q·c counts agreements minus disagreements
        signs_q, signs_c = np.where(q > 0, 1.0, -1.0), np.where(c > 0, 1.0, -1.0)
        return (q.shape[1] - signs_q @ signs_c.T) / 2.0
    if metric is Metric.cosine:
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
    squared = (q * q).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * (q @ c.T)
    return np.sqrt(np.maximum(squared, 0.0))


@dataclass
class Histogram:
    edges: list[float]
    counts: list[int]


def histogram(values: np.ndarray, bins: int = 60) -> Histogram:
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64), bins=bins)
    return Histogram(edges=[float(e) for e in edges], counts=[int(c) for c in counts])


@dataclass
class Concentration:
    """Distance concentration (Beyer et al. 1999; Aggarwal et al. 2001), per query, summarised by the median.

    relative_contrast: (D_max - D_min) / D_min; nearest_closer: 1 - D_min / D_max, the share by which the nearest
    point is closer than the farthest; distance_cv: std / mean of a query's distances.
    """

    queries: int
    points: int
    relative_contrast: float
    relative_contrast_p10: float
    relative_contrast_p90: float
    nearest_closer: float
    distance_cv: float
    distance_mean: float
    histogram: Histogram


def concentration(vectors: np.ndarray, metric: Metric, queries: int = 1000, seed: int = 0) -> Concentration:
    """Distances from up to `queries` rows of `vectors` (n, dim) to all the other rows.

    Zero distances (duplicates, parallel rows under cosine) are left out, so D_min is the nearest *distinct* point.
    """
    n = len(vectors)
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(queries, n), replace=False))
    distances = pairwise_distances(metric, vectors[chosen], vectors)
    distances[np.arange(len(chosen)), chosen] = np.nan
    scale = np.nanmedian(distances) if distances.size > len(chosen) else 0.0
    distances[distances <= 1e-7 * scale] = np.nan  # rounding leaves ~1e-8 where the true distance is 0
    usable = (~np.isnan(distances)).sum(axis=1) >= 2
    distances = distances[usable]
    if len(distances) == 0:
        raise InputError("distance concentration needs at least 3 distinct rows")
    low, high = np.nanmin(distances, axis=1), np.nanmax(distances, axis=1)
    mean, std = np.nanmean(distances, axis=1), np.nanstd(distances, axis=1)
    contrast = (high - low) / low
    return Concentration(
        queries=len(distances),
        points=n,
        relative_contrast=float(np.median(contrast)),
        relative_contrast_p10=float(np.percentile(contrast, 10)),
        relative_contrast_p90=float(np.percentile(contrast, 90)),
        nearest_closer=float(np.median(1.0 - low / high)),
        distance_cv=float(np.median(std / mean)),
        distance_mean=float(np.mean(mean)),
        histogram=histogram(distances[~np.isnan(distances)]),
    )


@dataclass
class Hubness:
    """The k-occurrence N_k(x), how often x is among the others' k nearest neighbours (Radovanović et al. 2010).

    skewness: E[(N_k - k)^3] / sd^3; antihub_share: share with N_k = 0; hub_share: share with N_k > 2k;
    robin_hood: the Hoover index of N_k, sum |N_k - k| / (2 n k), the share of neighbour-list slots that would have
    to move for every point to appear k times (Feldbauer et al. 2018); top1_share: share of all slots held by the
    1% most frequent neighbours. occurrences[j] is the number of points with N_k = j.
    """

    k: int
    points: int
    skewness: float
    antihub_share: float
    hub_share: float
    robin_hood: float
    max_occurrence: int
    top1_share: float
    occurrences: list[int]


def hubness(indices: np.ndarray, k: int) -> Hubness:
    """Hubness from a kNN graph: `indices` (n, >= k) of each row's nearest other rows, best first."""
    n = len(indices)
    counts = np.bincount(indices[:, :k].ravel(), minlength=n).astype(np.float64)
    std = counts.std()
    skew = float(((counts - k) ** 3).mean() / std**3) if std > 0 else 0.0
    top = np.sort(counts)[::-1][: max(1, n // 100)]
    return Hubness(
        k=k,
        points=n,
        skewness=skew,
        antihub_share=float((counts == 0).mean()),
        hub_share=float((counts > 2 * k).mean()),
        robin_hood=float(np.abs(counts - k).sum() / (2 * n * k)),
        max_occurrence=int(counts.max()),
        top1_share=float(top.sum() / (n * k)),
        occurrences=[int(c) for c in np.bincount(counts.astype(np.int64))],
    )


@dataclass
class IntrinsicDimension:
    """TwoNN (Facco et al. 2017) and the MLE (Levina & Bickel 2004) from neighbour distances.

    points_used: rows whose nearest distinct neighbour is at a positive distance (the others are left out: both
    estimators divide by that distance).
    """

    twonn: float
    mle: float
    mle_k: int
    points_used: int
    points_dropped: int


def intrinsic_dimension(distances: np.ndarray, mle_k: int = 20, discard: float = 0.1) -> IntrinsicDimension:
    """Both estimators from `distances` (n, >= 2), each row's sorted distances to its nearest other rows.

    TwoNN fits -log(1 - F(mu)) = d log(mu), mu = r2 / r1, through the origin, leaving out the `discard` share of
    largest mu as Facco et al. do. The MLE averages over points the per-point estimate
    (k - 2) / sum_{j<k} log(T_k / T_j) (Levina & Bickel with the unbiased k - 2, as scikit-dimension computes it;
    averaging the inverses instead, as MacKay & Ghahramani propose, reads 10% lower on a 5-dimensional ball).
    """
    distances = np.asarray(distances, dtype=np.float64)
    first = distances[:, 0]
    scale = np.median(first[first > 0]) if (first > 0).any() else 0.0
    keep = first > 1e-7 * scale
    used = distances[keep]
    if len(used) < 3:
        raise InputError("intrinsic dimension needs at least 3 rows with a distinct nearest neighbour")
    mu = np.sort(used[:, 1] / used[:, 0])
    n = len(mu)
    fitted = max(2, int(np.floor(n * (1.0 - discard))))
    x = np.log(mu[:fitted])
    y = -np.log(1.0 - np.arange(1, fitted + 1) / n)
    twonn = float((x * y).sum() / (x * x).sum()) if (x * x).sum() > 0 else float("inf")
    k = min(mle_k, used.shape[1])
    logs = np.log(used[:, k - 1 : k] / used[:, : k - 1]).sum(axis=1)
    logs = logs[logs > 0]  # all k distances tied (hamming's integer distances): no estimate from that point
    mle = float(((k - 2) / logs).mean()) if k >= 3 and len(logs) else float("nan")
    return IntrinsicDimension(twonn=twonn, mle=mle, mle_k=k, points_used=n, points_dropped=int((~keep).sum()))


@dataclass
class Anisotropy:
    """The mean cosine of all pairs of distinct rows, before and after subtracting the mean (Ethayarajh 2019).

    Near 0 for vectors spread in every direction; near 1 when they crowd into a narrow cone.
    """

    mean_cosine: float
    mean_cosine_centred: float
    points: int


def _mean_pair_cosine(vectors: np.ndarray) -> float:
    norms = np.linalg.norm(vectors, axis=1)
    units = vectors[norms > 0] / norms[norms > 0, None]
    m = len(units)
    if m < 2:
        return float("nan")
    total = units.sum(axis=0)
    return float((total @ total - m) / (m * (m - 1)))  # sum over i != j of u_i . u_j, without the n^2 matrix


def anisotropy(vectors: np.ndarray) -> Anisotropy:
    """Mean pair cosine of `vectors` (n, dim), exact over all n(n-1) ordered pairs, in O(n dim)."""
    rows = np.asarray(vectors, dtype=np.float64)
    return Anisotropy(
        mean_cosine=_mean_pair_cosine(rows),
        mean_cosine_centred=_mean_pair_cosine(rows - rows.mean(axis=0)),
        points=len(rows),
    )


@dataclass
class Spectrum:
    """The principal components of the centred sample.

    explained_variance[i]: the share of variance along component i; dims_for[j]: how many components hold
    VARIANCE_TARGETS[j] of it; effective_rank: exp of the entropy of the normalised singular values
    (Roy & Vetterli 2007), between 1 and dim.
    """

    explained_variance: list[float]
    variance_targets: list[float]
    dims_for: list[int]
    effective_rank: float


def spectrum(vectors: np.ndarray, components: int = 0) -> tuple[Spectrum, np.ndarray, np.ndarray]:
    """PCA of `vectors` (n, dim). Returns the Spectrum, the mean (dim,) and the first `components` axes
    (components, dim), each signed so that its largest loading is positive (a deterministic sign)."""
    rows = np.asarray(vectors, dtype=np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    # eigh of the smaller Gram matrix: LAPACK's SVD of a (5000, 500) sample takes seconds, this milliseconds
    if centred.shape[0] >= centred.shape[1]:
        eigenvalues, vectors_ = np.linalg.eigh(centred.T @ centred)
        eigenvalues, axes = eigenvalues[::-1], vectors_[:, ::-1].T
    else:
        eigenvalues, left = np.linalg.eigh(centred @ centred.T)
        eigenvalues, left = eigenvalues[::-1], left[:, ::-1]
        axes = (centred.T @ left[:, :components]).T
        axes /= np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), 1e-300)
    variance = np.maximum(eigenvalues, 0.0)
    singular = np.sqrt(variance)
    total = variance.sum()
    share = variance / total if total > 0 else np.zeros_like(variance)
    cumulative = np.cumsum(share)
    p = singular[singular > 0] / singular.sum() if total > 0 else np.ones(1)
    dims = [min(int(np.searchsorted(cumulative, t - 1e-12)) + 1, len(share)) for t in VARIANCE_TARGETS]
    axes = axes[:components]
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    result = Spectrum(
        explained_variance=[float(s) for s in share],
        variance_targets=list(VARIANCE_TARGETS),
        dims_for=dims,
        effective_rank=float(np.exp(-(p * np.log(p)).sum())),
    )
    return result, mean, axes


@dataclass
class NormFrequency:
    """Norm against word frequency: Spearman's rho, and the median norm per tenth of the vocabulary by frequency
    (bin 0 holds the most frequent words)."""

    spearman: float
    median_norm_by_decile: list[float]


@dataclass
class Norms:
    rows: int
    zero_rows: int
    mean: float
    std: float
    cv: float
    minimum: float
    p1: float
    median: float
    p99: float
    maximum: float
    histogram: Histogram
    by_frequency: NormFrequency | None


def norms(lengths: np.ndarray, frequency: np.ndarray | None = None) -> Norms:
    """Spread of row lengths `lengths` (n,) (NaN for non-finite rows, which are left out).

    frequency: (n,) any number that grows with a word's frequency (a count, or minus its rank), or None.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    finite = np.isfinite(lengths)
    values = lengths[finite]
    if len(values) == 0:
        raise InputError("no finite vectors to measure")
    by_frequency = None
    if frequency is not None:
        from scipy.stats import spearmanr

        freq = np.asarray(frequency, dtype=np.float64)[finite]
        order = np.argsort(-freq, kind="stable")
        deciles = [float(np.median(values[part])) for part in np.array_split(order, 10) if len(part)]
        rho = float(spearmanr(values, freq).statistic) if len(values) > 2 else float("nan")
        by_frequency = NormFrequency(spearman=rho, median_norm_by_decile=deciles)
    mean = float(values.mean())
    p1, median, p99 = (float(v) for v in np.percentile(values, [1, 50, 99]))
    return Norms(
        rows=len(values),
        zero_rows=int((values == 0).sum()),
        mean=mean,
        std=float(values.std()),
        cv=float(values.std() / mean) if mean > 0 else 0.0,
        minimum=float(values.min()),
        p1=p1,
        median=median,
        p99=p99,
        maximum=float(values.max()),
        histogram=histogram(values),
        by_frequency=by_frequency,
    )


@dataclass
class PrecisionCost:
    precision: str
    bytes_per_vector: int
    file_bytes: int


@dataclass
class ReducedCost:
    """What keeping only the components that hold `variance` of it (`reduce --dim`) would cost in float32."""

    variance: float
    dim: int
    bytes_per_vector: int
    file_bytes: int
    saving: float


@dataclass
class Cost:
    rows: int
    dim: int
    precisions: list[PrecisionCost]
    reduced: list[ReducedCost]


def cost(rows: int, dim: int, spectrum_: Spectrum | None = None) -> Cost:
    """Payload bytes (no headers) of `rows` vectors of `dim` dimensions in each precision, and of PCA-reduced dims."""
    widths = {"float32": 4 * dim, "float16": 2 * dim, "int8": dim, "binary": (dim + 7) // 8}
    precisions = [PrecisionCost(name, width, width * rows) for name, width in widths.items()]
    reduced = []
    if spectrum_ is not None:
        for target, kept in zip(spectrum_.variance_targets, spectrum_.dims_for, strict=True):
            reduced.append(ReducedCost(target, kept, 4 * kept, 4 * kept * rows, 1.0 - kept / dim))
    return Cost(rows=rows, dim=dim, precisions=precisions, reduced=reduced)
