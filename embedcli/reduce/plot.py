"""2-D scatter plots of reduced vectors as PNG images, drawn headless (matplotlib's Agg canvas, no pyplot state).

Points are coloured by a column when asked: a few distinct values get a legend, numbers get a colour bar.
A few points can be labelled with their text. The image is written atomically to a file, or to stdout.
"""

from __future__ import annotations

import io
import numbers
from typing import Any

import numpy as np

from embedcli.errors import UsageError
from embedcli.formats.outputs import write_atomically
from embedcli.reduce.methods import optional_module
from embedcli.reduce.run import PlotData

MAX_LEGEND = 12  # categories shown by name; the rest are drawn grey as "other"
LABEL_CHARS = 40
SIZE_INCHES, DPI = 8.0, 100


def scatter_png(plot: PlotData, title: str, axis_name: str = "component") -> bytes:
    """The scatter plot of `plot.points[:, 0]` against `[:, 1]` as PNG bytes (800 × 800 pixels)."""
    if plot.points.ndim != 2 or plot.points.shape[1] < 2:
        raise UsageError("--plot needs at least 2 output dimensions", hint="use --dim 2 or more")
    optional_module("matplotlib", "matplotlib", "--plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(SIZE_INCHES, SIZE_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x, y = plot.points[:, 0], plot.points[:, 1]
    size = float(np.clip(20_000 / max(len(x), 1), 1, 30))
    if plot.colors is None:
        axes.scatter(x, y, s=size, alpha=0.7, linewidths=0, color="tab:blue")
    elif _numeric(plot.colors):
        drawn = axes.scatter(x, y, s=size, alpha=0.8, linewidths=0, c=np.asarray(plot.colors, float), cmap="viridis")
        figure.colorbar(drawn, ax=axes, shrink=0.8)
    else:
        _categories(axes, x, y, [str(c) for c in plot.colors], size)
    for position, text in plot.labels.items():
        short = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
        axes.annotate(
            short, (x[position], y[position]), fontsize=7, alpha=0.85, xytext=(3, 3), textcoords="offset points"
        )
    shown = f"{len(x):,} of {plot.total_rows:,} points" if len(x) < plot.total_rows else f"{len(x):,} points"
    axes.set_title(f"{title} · {shown}", fontsize=11)
    axes.set_xlabel(f"{axis_name} 1")
    axes.set_ylabel(f"{axis_name} 2")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def write_png(image: bytes, target: str | None) -> None:
    """Write PNG bytes to `target` atomically, or to stdout when `target` is None."""
    write_atomically(image, target, ".png")


def _numeric(values: list[Any]) -> bool:
    real = [v for v in values if v is not None]
    is_number = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in real)
    return bool(real) and is_number and len(set(real)) > MAX_LEGEND


def _categories(axes: Any, x: np.ndarray, y: np.ndarray, values: list[str], size: float) -> None:
    names, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True)
    top = [str(n) for n in names[np.argsort(-counts, kind="stable")][:MAX_LEGEND]]
    keys = np.asarray(values, dtype=object).astype(str)
    rest = ~np.isin(keys, top)
    if rest.any():
        axes.scatter(x[rest], y[rest], s=size, alpha=0.4, linewidths=0, color="lightgrey", label="other")
    palette = "tab10" if len(top) <= 10 else "tab20"
    from matplotlib import colormaps

    colours = colormaps[palette]
    for i, name in enumerate(top):
        chosen = keys == name
        axes.scatter(x[chosen], y[chosen], s=size, alpha=0.8, linewidths=0, color=colours(i), label=name[:30])
    axes.legend(fontsize=8, markerscale=max(1.0, 6 / np.sqrt(size)), loc="best")
