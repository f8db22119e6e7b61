"""`inspect_vectors`: the known limits of embeddings, measured on the user's own vectors, with plain verdicts.

Every row is read once (lengths, duplicates, zero and non-finite rows, the items at both ends of the principal
axes); everything else is measured on a seeded sample of `sample` rows, so a million-row file takes seconds. The
kNN-based measures (hubness, intrinsic dimension) and distance concentration use the sample's distinct, finite,
non-zero rows: duplicates would put zero distances where TwoNN and the MLE divide.

Verdict thresholds (the levels are ok < notice < warning):
- concentration, on the median over queries of nearest_closer = 1 - D_min / D_max: warning below 0.25 ("the nearest
  neighbour is only 8% closer than the farthest point"), notice below 0.5 (Beyer et al. 1999; Aggarwal et al. 2001).
- hubness, on the skewness of the 10-occurrence: warning above 3, notice above 1 (Radovanović et al. 2010 report
  skewness near 0 for low-dimensional data and above 1 where hubs form).
- intrinsic dimension: notice when both TwoNN and the MLE are below a quarter of the stored dimensions.
- anisotropy, on the mean cosine of pairs: warning above 0.5, notice above 0.2 (Ethayarajh 2019 measures 0.2 to
  0.99 in contextual models' upper layers).
- spectrum: notice when 95% of the variance lies in fewer than half the dimensions.
- norms: notice when the coefficient of variation of lengths exceeds 0.25 under the dot product (which favours
  long vectors); notice when |Spearman rho| of norm against word frequency exceeds 0.3.
- data: warning for non-finite rows, notice for zero or duplicate rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import Any

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.inspect.measures import (
    Anisotropy,
    Concentration,
    Cost,
    Hubness,
    IntrinsicDimension,
    KnnFn,
    Norms,
    Spectrum,
    anisotropy,
    concentration,
    cost,
    distance_metric,
    exact_knn,
    hubness,
    intrinsic_dimension,
    norms,
    score_distances,
    spectrum,
)
from embedcli.inspect.scan import Scan, scan
from embedcli.metrics import Metric

HUBNESS_K = 10
MLE_K = 20
AXIS_ENDS = 5
CONCENTRATION_QUERIES = 1000


class Level(str, Enum):
    ok = "ok"
    notice = "notice"
    warning = "warning"


@dataclass
class Verdict:
    topic: str
    level: Level
    text: str


@dataclass
class Sample:
    """rows: rows drawn; finite: those without NaN/infinity; used: the distinct, non-zero ones the kNN measures use."""

    rows: int
    seed: int
    finite: int
    used: int


@dataclass
class Quality:
    """Counts over every row of the input."""

    rows: int
    nonfinite_rows: int
    zero_rows: int
    duplicate_rows: int


@dataclass
class AxisItem:
    row: int
    id: Any
    text: str | None
    projection: float


@dataclass
class Axis:
    """Principal axis `index` (0 first) holding `variance` of the sample's variance; the items projecting highest
    and lowest on it (over every row), extreme first."""

    index: int
    variance: float
    high: list[AxisItem]
    low: list[AxisItem]


@dataclass
class InspectReport:
    rows: int
    dim: int
    metric: str
    sample: Sample
    quality: Quality
    concentration: Concentration
    hubness: Hubness
    intrinsic_dimension: IntrinsicDimension
    anisotropy: Anisotropy
    spectrum: Spectrum
    norms: Norms
    cost: Cost
    axes: list[Axis]
    verdicts: list[Verdict]


def draw_sample(rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of min(size, rows) rows without replacement (sorted: a memory-mapped
    file is then read front to back)."""
    if size < 1:
        raise UsageError(f"the sample must hold at least 1 row; got {size}")
    if size >= rows:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def inspect_vectors(
    vectors: np.ndarray,
    *,
    ids: Sequence[Any] | np.ndarray | None = None,
    texts: Sequence[str | None] | np.ndarray | None = None,
    metric: Metric,
    sample: int = 5000,
    seed: int = 0,
    axes: int = 3,
    knn: KnnFn = exact_knn,
    word_counts: np.ndarray | None = None,
) -> InspectReport:
    """Measure `vectors` (n, dim), any float dtype, memory-mapped or not; every row is read once.

    ids, texts: (n,) labels for the axis ends (row numbers when ids is None). word_counts: (n,) a number that grows
    with each word's frequency (counts; or minus the rank), for norm against frequency. knn: the exact search used
    for hubness and intrinsic dimension (see measures.KnnFn). Raises UsageError for a bad sample or axes count and
    InputError when fewer than 4 distinct non-zero finite rows are sampled.
    """
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise InputError(f"expected a 2-D table of vectors; got shape {vectors.shape}")
    n, dim = vectors.shape
    if axes < 0:
        raise UsageError(f"--axes must be 0 or more; got {axes}")
    for name, column in (("ids", ids), ("texts", texts), ("word counts", word_counts)):
        if column is not None and len(column) != n:
            raise InputError(f"{len(column)} {name} for {n} vectors")
    drawn = np.asarray(vectors[draw_sample(n, sample, seed)], dtype=np.float32) + np.float32(0)
    finite = drawn[np.isfinite(drawn).all(axis=1)]
    distinct = np.unique(finite, axis=0)
    used = distinct[np.linalg.norm(distinct, axis=1) > 0]
    if len(used) < 4:
        raise InputError(f"inspect needs at least 4 distinct non-zero vectors in the sample; found {len(used)}")
    used = used[np.random.default_rng(seed).permutation(len(used))]  # np.unique sorted them
    k = min(max(HUBNESS_K, MLE_K), len(used) - 1)
    indices, scores = knn(used, k, metric)
    id_metric = distance_metric(metric)
    if id_metric is not metric:
        _, scores = knn(used, k, id_metric)
    spec, mean, components = spectrum(finite, components=min(axes, dim))
    rows = scan(vectors, mean.astype(np.float32), components.astype(np.float32), ends=AXIS_ENDS)
    report = InspectReport(
        rows=n,
        dim=dim,
        metric=metric.value,
        sample=Sample(rows=len(drawn), seed=seed, finite=len(finite), used=len(used)),
        quality=Quality(n, rows.nonfinite_rows, rows.zero_rows, rows.duplicate_rows),
        concentration=concentration(used, metric, CONCENTRATION_QUERIES, seed),
        hubness=hubness(indices, min(HUBNESS_K, k)),
        intrinsic_dimension=intrinsic_dimension(score_distances(id_metric, scores), MLE_K),
        anisotropy=anisotropy(finite),
        spectrum=spec,
        norms=norms(rows.lengths, word_counts),
        cost=cost(n, dim, spec),
        axes=_axes(rows, spec, ids, texts),
        verdicts=[],
    )
    report.verdicts = verdicts(report)
    return report


def _label(column: Sequence[Any] | np.ndarray | None, row: int) -> Any:
    if column is None:
        return None
    value = column[row]
    return value.item() if isinstance(value, np.generic) else value


def _axes(rows: Scan, spec: Spectrum, ids: Any, texts: Any) -> list[Axis]:
    result = []
    for axis in range(len(rows.high)):

        def items(numbers: np.ndarray, values: np.ndarray) -> list[AxisItem]:
            return [
                AxisItem(int(r), int(r) if ids is None else _label(ids, int(r)), _label(texts, int(r)), float(v))
                for r, v in zip(numbers, values, strict=True)
                if np.isfinite(v)  # fewer finite rows than ends: the rest are non-finite fillers
            ]

        result.append(
            Axis(
                index=axis,
                variance=spec.explained_variance[axis],
                high=items(rows.high[axis], rows.high_values[axis]),
                low=items(rows.low[axis], rows.low_values[axis]),
            )
        )
    return result


def _percent(share: float) -> str:
    return "under 1%" if 0 < share < 0.005 else f"{100 * share:.0f}%"


def _size(count: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.3g} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def verdicts(report: InspectReport) -> list[Verdict]:
    """One plain-language verdict per limit, with the thresholds of this module's docstring."""
    out = [_quality_verdict(report.quality)]
    c = report.concentration
    closer = _percent(c.nearest_closer)
    if c.nearest_closer < 0.25:
        text = f"distances are concentrated: the nearest neighbour is only {closer} closer than the farthest point"
        out.append(Verdict("concentration", Level.warning, text))
    elif c.nearest_closer < 0.5:
        text = f"distances are somewhat concentrated: the nearest neighbour is {closer} closer than the farthest point"
        out.append(Verdict("concentration", Level.notice, text))
    else:
        text = f"distances discriminate: the nearest neighbour is {closer} closer than the farthest point"
        out.append(Verdict("concentration", Level.ok, text))
    h = report.hubness
    level = Level.warning if h.skewness > 3 else Level.notice if h.skewness > 1 else Level.ok
    strength = {Level.warning: "strong hubness", Level.notice: "some hubness", Level.ok: "little hubness"}[level]
    out.append(
        Verdict(
            "hubness",
            level,
            f"{strength} (k-occurrence skewness {h.skewness:.2f}): the 1% most popular points fill "
            f"{_percent(h.top1_share)} of all {h.k}-nearest-neighbour lists, and {_percent(h.antihub_share)} of "
            "points are in no list",
        )
    )
    i = report.intrinsic_dimension
    low = max(i.twonn, i.mle) < report.dim / 4
    where = "most stored dimensions are redundant" if low else "the vectors use many of their dimensions"
    out.append(
        Verdict(
            "intrinsic_dimension",
            Level.notice if low else Level.ok,
            f"the vectors vary along about {i.twonn:.0f} directions (TwoNN {i.twonn:.1f}, MLE {i.mle:.1f}) of "
            f"their {report.dim}: {where}",
        )
    )
    a = report.anisotropy
    level = Level.warning if a.mean_cosine > 0.5 else Level.notice if a.mean_cosine > 0.2 else Level.ok
    shape = "crowd into a narrow cone" if level is not Level.ok else "spread in all directions"
    out.append(
        Verdict(
            "anisotropy",
            level,
            f"vectors {shape}: two random items have cosine {a.mean_cosine:.2f} on average "
            f"({a.mean_cosine_centred:.2f} after subtracting the mean vector)",
        )
    )
    s = report.spectrum
    kept = s.dims_for[s.variance_targets.index(0.95)]
    out.append(
        Verdict(
            "spectrum",
            Level.notice if kept < report.dim / 2 else Level.ok,
            f"95% of the variance lies in {kept} of {report.dim} directions (effective rank {s.effective_rank:.0f})",
        )
    )
    out.extend(_norm_verdicts(report.norms, report.metric))
    out.append(_cost_verdict(report.cost))
    return out


def _quality_verdict(q: Quality) -> Verdict:
    if not (q.nonfinite_rows or q.zero_rows or q.duplicate_rows):
        return Verdict("data", Level.ok, "no duplicate, zero or non-finite rows")
    level = Level.warning if q.nonfinite_rows else Level.notice
    text = (
        f"{q.duplicate_rows} duplicate rows ({_percent(q.duplicate_rows / q.rows)}), {q.zero_rows} zero vectors and "
        f"{q.nonfinite_rows} rows with NaN or infinity; the measures leave them out"
    )
    return Verdict("data", level, text)


def _norm_verdicts(n: Norms, metric: str) -> list[Verdict]:
    spread = f"vector lengths range {n.p1:.3g} to {n.p99:.3g} (1st to 99th percentile; variation {n.cv:.2f})"
    if n.cv > 0.25 and metric == Metric.dot.value:
        out = [Verdict("norms", Level.notice, f"{spread}: a dot-product search favours the long vectors")]
    else:
        out = [Verdict("norms", Level.ok, spread)]
    f = n.by_frequency
    if f is not None and not math.isnan(f.spearman):
        strong = abs(f.spearman) > 0.3
        trend = "longer" if f.spearman > 0 else "shorter"
        text = f"frequent words have {trend} vectors (Spearman rho {f.spearman:.2f})"
        if not strong:
            text = f"vector length barely follows word frequency (Spearman rho {f.spearman:.2f})"
        out.append(Verdict("norms_frequency", Level.notice if strong else Level.ok, text))
    return out


def _cost_verdict(c: Cost) -> Verdict:
    sizes = {p.precision: _size(p.file_bytes) for p in c.precisions}
    text = (
        f"{c.rows:,} vectors of {c.dim} dimensions take {sizes['float32']} in float32 (float16 {sizes['float16']}, "
        f"int8 {sizes['int8']}, binary {sizes['binary']})"
    )
    reduced = next((r for r in c.reduced if r.variance == 0.95), None)
    if reduced is not None and reduced.dim < c.dim:
        text += (
            f"; keeping 95% of the variance needs {reduced.dim} dimensions: {_size(reduced.file_bytes)} in float32 "
            f"({_percent(reduced.saving)} less)"
        )
    return Verdict("cost", Level.ok, text)


def to_json(report: InspectReport) -> dict[str, Any]:
    """Every figure of `report` as JSON-ready data: dicts, lists, str, int, float, bool and None (for NaN)."""
    result = _plain(report)
    assert isinstance(result, dict)
    return result


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # an id of another type (bytes, a date): shown as text
