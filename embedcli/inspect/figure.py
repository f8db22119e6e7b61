"""A one-page PNG of an InspectReport: distances, k-occurrence, variance, norms, and the verdicts in words.

Drawn from the report's own figures only (no vectors needed), with matplotlib's Agg backend, so it works without a
display and the picture always agrees with `--json`.
"""

from __future__ import annotations

import textwrap
from typing import Any, BinaryIO

import numpy as np

from embedcli.inspect.measures import Histogram
from embedcli.inspect.report import InspectReport, Level

_COLOURS = {Level.ok: "#2e7d32", Level.notice: "#ef6c00", Level.warning: "#c62828"}


def draw_report(report: InspectReport, out: BinaryIO, *, title: str | None = None, dpi: int = 110) -> None:
    """Write a PNG (about 1650 x 1000 pixels at the default dpi) of `report` to the binary file object `out`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 9), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)  # Agg on this figure alone: pyplot's global backend stays as the caller set it
    grid = figure.subplots(2, 3)
    heading = title or f"{report.rows:,} vectors x {report.dim} dimensions, {report.metric}"
    figure.suptitle(f"{heading} (sample of {report.sample.used:,} rows, seed {report.sample.seed})", fontsize=13)
    _distances(grid[0, 0], report)
    _occurrence(grid[0, 1], report)
    _variance(grid[0, 2], report)
    _norms(grid[1, 0], report)
    _second_norm_panel(grid[1, 1], report)
    _verdicts(grid[1, 2], report)
    figure.savefig(out, format="png")


def _bars(axis: Any, histogram: Histogram, colour: str) -> None:
    edges = np.asarray(histogram.edges)
    axis.bar(edges[:-1], histogram.counts, width=np.diff(edges), align="edge", color=colour, linewidth=0)


def _distances(axis: Any, report: InspectReport) -> None:
    c = report.concentration
    _bars(axis, c.histogram, "#1565c0")
    name = "chord distance" if report.metric == "cosine" else "euclidean distance" if report.metric == "dot" else ""
    axis.set_xlabel(f"{name or report.metric + ' distance'} between sampled points")
    axis.set_ylabel("pairs")
    axis.set_title(
        f"Distance concentration: nearest {100 * c.nearest_closer:.0f}% closer than farthest\n"
        f"relative contrast {c.relative_contrast:.2f}, distance CV {c.distance_cv:.2f}",
        fontsize=10,
    )


def _occurrence(axis: Any, report: InspectReport) -> None:
    h = report.hubness
    counts = np.asarray(h.occurrences)
    axis.bar(np.arange(len(counts)), counts, width=1.0, color="#6a1b9a", linewidth=0)
    axis.axvline(h.k, color="black", linestyle="--", linewidth=1, label=f"k = {h.k} (every point equally popular)")
    axis.set_yscale("log")
    axis.set_xlabel(f"times a point is among the others' {h.k} nearest neighbours")
    axis.set_ylabel("points")
    axis.legend(fontsize=8)
    axis.set_title(
        f"Hubness: skewness {h.skewness:.2f}, {100 * h.antihub_share:.0f}% never chosen, Robin Hood {h.robin_hood:.2f}",
        fontsize=10,
    )


def _variance(axis: Any, report: InspectReport) -> None:
    s, i = report.spectrum, report.intrinsic_dimension
    cumulative = np.cumsum(s.explained_variance)
    axis.plot(np.arange(1, len(cumulative) + 1), cumulative, color="#00838f")
    for target, dims in zip(s.variance_targets, s.dims_for, strict=True):
        axis.axhline(target, color="grey", linewidth=0.5)
        axis.annotate(
            f"{100 * target:.0f}%: {dims} dims", (dims, target), fontsize=8, xytext=(-70, 3), textcoords="offset points"
        )
    axis.axvline(i.twonn, color="#c62828", linestyle=":", label=f"intrinsic dimension (TwoNN) {i.twonn:.1f}")
    axis.axvline(s.effective_rank, color="#ef6c00", linestyle="--", label=f"effective rank {s.effective_rank:.0f}")
    axis.set_xscale("log")
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("principal components kept")
    axis.set_ylabel("share of variance")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(f"Explained variance (MLE dimension {i.mle:.1f})", fontsize=10)


def _norms(axis: Any, report: InspectReport) -> None:
    n = report.norms
    _bars(axis, n.histogram, "#558b2f")
    axis.set_xlabel("vector length (L2 norm), every row")
    axis.set_ylabel("rows")
    axis.set_title(f"Norms: median {n.median:.3g}, CV {n.cv:.2f}, {n.zero_rows} zero vectors", fontsize=10)


def _second_norm_panel(axis: Any, report: InspectReport) -> None:
    f = report.norms.by_frequency
    if f is not None:
        axis.plot(np.arange(1, len(f.median_norm_by_decile) + 1), f.median_norm_by_decile, marker="o")
        axis.set_xlabel("frequency tenth (1 = most frequent words)")
        axis.set_ylabel("median vector length")
        axis.set_title(f"Norm against word frequency (Spearman rho {f.spearman:.2f})", fontsize=10)
        return
    a = report.anisotropy
    values = [a.mean_cosine, a.mean_cosine_centred]
    axis.bar(["as stored", "mean subtracted"], values, color=["#ad1457", "#78909c"])
    axis.axhline(0, color="black", linewidth=0.5)
    axis.set_ylim(min(-0.1, *values), 1.0)
    axis.set_ylabel("mean cosine of random pairs")
    axis.set_title(f"Anisotropy: mean cosine {a.mean_cosine:.2f}, {a.mean_cosine_centred:.2f} centred", fontsize=10)


def _verdicts(axis: Any, report: InspectReport) -> None:
    axis.set_axis_off()
    axis.set_title("Verdicts", fontsize=10, loc="left")
    y = 1.0
    for verdict in report.verdicts:
        lines = textwrap.wrap(f"{verdict.topic}: {verdict.text}", 72)
        axis.text(
            0.0, y, "\n".join(lines), transform=axis.transAxes, fontsize=8, va="top", color=_COLOURS[verdict.level]
        )
        y -= 0.032 * len(lines) + 0.025
