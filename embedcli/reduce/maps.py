"""Static maps of 2-D points (PNG, SVG, PDF), drawn headless on matplotlib's Agg canvas (no pyplot state).

Points are coloured by cluster (named on the map, noise in grey) or by a column (a legend for categories, a colour
bar for numbers), from a colour-blind-safe palette, on a light or dark theme. Cluster names are placed by a
deterministic search around each cluster's centre: a name goes to the nearest position (in rings of growing
radius) where its text box overlaps no name placed before it and stays inside the axes; a name with no such
position is left out and counted. Larger clusters are placed first. The image is written to a binary file
object the caller owns (the caller makes the write atomic).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO

import numpy as np

from embedcli.errors import UsageError
from embedcli.reduce.settings import Theme  # defined with the other choices the CLI lists, without numpy
from embedcli.reduce.thumbnails import MapPictures

NOISE = -1
# Okabe & Ito (2008), without black, then Paul Tol's "muted" scheme: both chosen to stay distinct under the
# common colour-vision deficiencies. Beyond 16 groups the colours repeat; the names on the map tell them apart.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
)  # fmt: skip
MAX_CATEGORIES = len(PALETTE)
NUMERIC_BINS = 8  # a number column is shown in this many quantile bins where a legend is needed (the HTML page)
LABEL_CHARS = 40
RASTERIZE_ABOVE = 5_000  # points drawn as one embedded image in SVG/PDF above this count, so files stay small


class MapFormat(str, Enum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


@dataclass(frozen=True)
class Colours:
    background: str
    foreground: str
    grey: str
    frame: str


THEMES = {
    Theme.light: Colours(background="#FFFFFF", foreground="#1A1A1A", grey="#BBBBBB", frame="#DDDDDD"),
    Theme.dark: Colours(background="#15171C", foreground="#E8E8E8", grey="#4D4D52", frame="#33363D"),
}


@dataclass
class Coloring:
    """How each point is coloured. `groups[i]` is point i's group (index into `names`/`colors`) or -1 for grey
    (`grey_name`: noise or other). `values` holds the numbers of a numeric column (static maps draw a colour
    bar from them; `groups` then holds their quantile bins). `named` says whether group names go on the map
    (clusters) rather than in a legend (a column's categories)."""

    groups: np.ndarray
    names: list[str]
    colors: list[str]
    grey_name: str = "noise"
    named: bool = True
    values: np.ndarray | None = None


def cluster_coloring(labels: np.ndarray, names: dict[int, str]) -> Coloring:
    """Colour by cluster: `labels` (n,) ints with -1 for noise, `names` {cluster id: name} (missing: "cluster N")."""
    labels = np.asarray(labels, dtype=np.int64)
    count = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    colors = [PALETTE[i % len(PALETTE)] for i in range(count)]
    return Coloring(labels, [names.get(i, f"cluster {i}") for i in range(count)], colors, "noise", True)


def column_coloring(values: Sequence[Any]) -> Coloring:
    """Colour by a column: numbers with more distinct values than the palette get a viridis scale; anything
    else is categorical, the most frequent categories in the palette and the rest grey as "other"."""
    real = [v for v in values if v is not None]
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in real)
    if real and numeric and len(set(real)) > MAX_CATEGORIES:
        return _numeric_coloring(np.array([np.nan if v is None else float(v) for v in values]))
    keys = np.array(["" if v is None else str(v) for v in values], dtype=object)
    names, counts = np.unique(keys, return_counts=True)
    top = [str(n) for n in names[np.lexsort((names, -counts))][:MAX_CATEGORIES]]
    groups = np.full(len(keys), NOISE, dtype=np.int64)
    for i, name in enumerate(top):
        groups[keys == name] = i
    return Coloring(groups, top, list(PALETTE[: len(top)]), "other", named=False)


def _numeric_coloring(numbers_: np.ndarray) -> Coloring:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    finite = numbers_[np.isfinite(numbers_)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, NUMERIC_BINS + 1)))
    bins = max(len(edges) - 1, 1)
    groups = np.clip(np.searchsorted(edges, numbers_, side="right") - 1, 0, bins - 1).astype(np.int64)
    groups[~np.isfinite(numbers_)] = NOISE
    names = [f"{edges[i]:.4g} – {edges[min(i + 1, len(edges) - 1)]:.4g}" for i in range(bins)]
    colors = [to_hex(colormaps["viridis"]((i + 0.5) / bins)) for i in range(bins)]
    return Coloring(groups, names, colors, "missing", named=False, values=numbers_)


def map_title(source: str | None, model: str | None, shown: int, total: int | None = None) -> str:
    """The title: the input's base name (never its directory), the model, and the count of points shown."""
    parts = [os.path.basename(source.rstrip("/\\")) if source and source != "-" else "stdin"]
    if model:
        # A local model folder shows its name only; a hub id ("org/name") is shown whole.
        local = os.path.isabs(model) or model.startswith((".", "~"))
        parts.append(os.path.basename(model.rstrip("/\\")) if local else model)
    parts.append(f"{shown:,} of {total:,} points" if total and total > shown else f"{shown:,} points")
    return " · ".join(parts)


@dataclass
class DrawnMap:
    """What `draw_static` drew: the matplotlib Figure (for reading extents back), the placed name Texts, and
    how many names found no free place and were left out."""

    figure: Any
    labels: list[Any] = field(default_factory=list)
    dropped: int = 0
    pictures: Any = None  # map_pictures.PlacedPictures when pictures were asked for


def draw_static(
    points: np.ndarray,
    out: BinaryIO,
    *,
    coloring: Coloring | None = None,
    annotations: dict[int, str] | None = None,
    title: str = "",
    format: MapFormat | str = MapFormat.png,
    size: float | tuple[float, float] = 10.0,
    dpi: int = 100,
    theme: Theme | str = Theme.light,
    pictures: MapPictures | None = None,
) -> DrawnMap:
    """Draw `points` (n, 2+; the first two columns) as a map into the binary file `out`.

    `coloring`: None draws every point in one colour. `annotations`: {point position: text} labels a few points
    (placed with the cluster names, without overlap). `size`: inches (one number: square), `dpi`: dots per inch
    (PNG pixels = size × dpi). `pictures` (image corpora): each cluster shown by its examples instead of its name,
    and sampled points by their picture (`map_pictures`). Raises UsageError for fewer than 2 dimensions, a bad size
    or dpi.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise UsageError("a map needs at least 2 output dimensions", hint="use --dim 2 or more")
    fmt, colours = MapFormat(format), THEMES[Theme(theme)]
    width, height = (size, size) if isinstance(size, int | float) else size
    if not (0.5 <= width <= 100 and 0.5 <= height <= 100) or not 10 <= dpi <= 1200:
        raise UsageError(
            f"map size {width}×{height} in at {dpi} dpi is out of range", hint="--size 0.5-100 (inches), --dpi 10-1200"
        )
    if coloring is not None and len(coloring.groups) != len(points):
        raise UsageError(f"{len(coloring.groups)} colours for {len(points)} points")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, facecolor=colours.background)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(facecolor=colours.background)
    x, y = points[:, 0], points[:, 1]
    raster = len(x) > RASTERIZE_ABOVE and fmt is not MapFormat.png
    # Marker area in points², shrinking with the count so dense maps stay readable, growing with the figure.
    marker = float(np.clip(25_000 / max(len(x), 1), 1.0, 40)) * (width * height / 100)
    _scatter(figure, axes, x, y, coloring, colours, marker, raster)
    _frame(axes, x, y, colours)
    axes.set_title(title, fontsize=11, color=colours.foreground)
    if coloring is not None and not coloring.named:
        figure.tight_layout()  # room for the legend or the colour bar
    else:  # fixed margins in points: tight_layout would draw the whole map once more only to measure it
        side, bottom, top = 8 / (72 * width), 8 / (72 * height), (26 if title else 8) / (72 * height)
        figure.subplots_adjust(left=side, right=1 - side, bottom=bottom, top=1 - top)
    drawn = DrawnMap(figure)
    taken: list[tuple[float, float, float, float]] = []
    shown: set[int] = set()
    if pictures is not None:
        from embedcli.reduce.map_pictures import picture_side, place_strips

        side = picture_side(width, height)
        drawn.pictures = place_strips(axes, points, pictures, _group_colors(coloring), colours.background, side, taken)
        shown = drawn.pictures.clusters
    wanted = _label_requests(points, coloring, annotations, shown)
    drawn.labels, drawn.dropped = place_labels(axes, wanted, colours, taken)
    if pictures is not None:
        from embedcli.reduce.map_pictures import place_point_pictures

        frames = _point_colors(coloring, len(points), colours)
        place_point_pictures(axes, points, pictures, frames, side, taken, drawn.pictures)
        drawn.dropped += drawn.pictures.dropped
    from matplotlib import rc_context

    # SVG keeps plain text (the title, the legend) as text, searchable and smaller; names with a halo are outlines.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "embedcli"}):
        figure.savefig(out, format=fmt.value, facecolor=colours.background, metadata=_metadata(fmt))
    return drawn


def _metadata(fmt: MapFormat) -> dict[str, Any]:
    # No creation date, so the same map gives the same bytes.
    return {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt.value]


def _scatter(
    figure: Any,
    axes: Any,
    x: np.ndarray,
    y: np.ndarray,
    coloring: Coloring | None,
    colours: Colours,
    marker: float,
    raster: bool,
) -> None:
    common = {"s": marker, "linewidths": 0, "rasterized": raster}
    if coloring is None:
        axes.scatter(x, y, color=PALETTE[4 if colours.background == "#FFFFFF" else 1], alpha=0.7, **common)
        return
    grey = coloring.groups == NOISE
    if grey.any():
        axes.scatter(x[grey], y[grey], color=colours.grey, alpha=0.5, label=coloring.grey_name, **common)
    if coloring.values is not None:
        shown = ~grey
        drawn = axes.scatter(x[shown], y[shown], c=coloring.values[shown], cmap="viridis", alpha=0.85, **common)
        bar = figure.colorbar(drawn, ax=axes, shrink=0.8)
        bar.ax.tick_params(colors=colours.foreground, labelsize=8)
        return
    # One scatter call for all coloured points, in a seeded shuffled order, so no cluster paints over another.
    shown = np.flatnonzero(~grey)
    order = shown[np.random.default_rng(0).permutation(len(shown))]
    palette = np.array(coloring.colors, dtype=object)
    axes.scatter(x[order], y[order], c=list(palette[coloring.groups[order]]), alpha=0.8, **common)
    if not coloring.named:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="o", linestyle="", color=c, label=n[:30])
            for n, c in zip(coloring.names, coloring.colors, strict=True)
        ]
        if grey.any():
            handles.append(Line2D([], [], marker="o", linestyle="", color=colours.grey, label=coloring.grey_name))
        legend = axes.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        for text in legend.get_texts():
            text.set_color(colours.foreground)


def _frame(axes: Any, x: np.ndarray, y: np.ndarray, colours: Colours) -> None:
    """Fixed limits with a margin (labels must not move them), no ticks: a map's axes have no units."""
    for values, setter in ((x, axes.set_xlim), (y, axes.set_ylim)):
        lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        pad = (hi - lo) * 0.04 or 1.0
        setter(lo - pad, hi + pad)
    axes.set_autoscale_on(False)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color(colours.frame)


def _group_colors(coloring: Coloring | None) -> dict[int, str]:
    return dict(enumerate(coloring.colors)) if coloring is not None else {}


def _point_colors(coloring: Coloring | None, count: int, colours: Colours) -> list[str]:
    """Each point's colour as drawn (a numeric column's points take their bin's colour)."""
    if coloring is None:
        return [colours.frame] * count
    palette = [*coloring.colors, colours.grey]  # index -1: grey
    return [palette[g] for g in coloring.groups]


def _label_requests(
    points: np.ndarray, coloring: Coloring | None, annotations: dict[int, str] | None, shown: Collection[int] = ()
) -> list[tuple[float, float, str, float]]:
    """(x, y, text, font size) in placement order: cluster names by cluster size (not those of the clusters in
    `shown`, drawn by their pictures), then point annotations."""
    wanted: list[tuple[float, float, str, float]] = []
    if coloring is not None and coloring.named:
        sizes = np.bincount(coloring.groups[coloring.groups >= 0], minlength=len(coloring.names))
        for group in np.argsort(-sizes, kind="stable"):
            if sizes[group] == 0 or int(group) in shown:
                continue
            members = points[coloring.groups == group, :2]
            # The member nearest the median, so a name sits on its cluster even when the cluster is curved.
            centre = members[np.argmin(((members - np.median(members, axis=0)) ** 2).sum(axis=1))]
            wanted.append((float(centre[0]), float(centre[1]), _short(coloring.names[group]), 10.0))
    for position, text in (annotations or {}).items():
        wanted.append((float(points[position, 0]), float(points[position, 1]), _short(text), 7.0))
    return wanted


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def place_labels(
    axes: Any,
    wanted: list[tuple[float, float, str, float]],
    colours: Colours,
    taken: list[tuple[float, float, float, float]] | None = None,
) -> tuple[list[Any], int]:
    """Place each (x, y, text, font size) at the first free position on rings around (x, y), in display space.

    A position is free when the text's box (padded by PAD pixels) lies inside the axes box and overlaps no box
    placed before, nor one in `taken` (boxes already drawn; the placed labels' boxes are appended to it).
    Returns the placed Text artists and the count left out. The axes' limits must be final.
    """
    from matplotlib.patheffects import withStroke

    figure = axes.figure
    renderer = figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    to_data = axes.transData.inverted()
    placed: list[Any] = []
    boxes = taken if taken is not None else []
    dropped = 0
    pad = 2.0 * figure.dpi / 72
    for x, y, text, fontsize in wanted:
        anchor = axes.transData.transform((x, y))
        weight = "bold" if fontsize >= 10 else "normal"
        halo = [withStroke(linewidth=3, foreground=colours.background)]
        artist = axes.text(x, y, text, fontsize=fontsize, ha="center", va="center", color=colours.foreground,
                           fontweight=weight, zorder=5, path_effects=halo)  # fmt: skip
        step = artist.get_window_extent(renderer).height
        spot = _free_spot(artist, anchor, step, frame, boxes, pad, renderer, to_data)
        if spot is None:
            artist.remove()
            dropped += 1
            continue
        boxes.append(spot)
        placed.append(artist)
        moved = artist.get_window_extent(renderer)
        if math.dist(anchor, ((moved.x0 + moved.x1) / 2, (moved.y0 + moved.y1) / 2)) > 2 * step:
            line = {"arrowstyle": "-", "color": colours.foreground, "lw": 0.6, "alpha": 0.6}
            axes.annotate("", (x, y), xytext=artist.get_position(), zorder=4, arrowprops=line)
    return placed, dropped


def _free_spot(
    artist: Any,
    anchor: np.ndarray,
    step: float,
    frame: Any,
    boxes: list[tuple[float, float, float, float]],
    pad: float,
    renderer: Any,
    to_data: Any,
) -> tuple[float, float, float, float] | None:
    for ring in range(0, 25):
        turns = 1 if ring == 0 else 8 + 4 * ring
        for k in range(turns):
            angle = 2 * math.pi * k / turns
            spot = (anchor[0] + ring * step * 1.2 * math.cos(angle), anchor[1] + ring * step * 0.8 * math.sin(angle))
            artist.set_position(tuple(to_data.transform(spot)))
            e = artist.get_window_extent(renderer)
            box = (e.x0 - pad, e.y0 - pad, e.x1 + pad, e.y1 + pad)
            inside = box[0] >= frame.x0 and box[1] >= frame.y0 and box[2] <= frame.x1 and box[3] <= frame.y1
            if inside and not any(_overlap(box, other) for other in boxes):
                return box
    return None


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
