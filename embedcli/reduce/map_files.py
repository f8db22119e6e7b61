"""Writing a map: the plotted sample of a reduction drawn as PNG, SVG, PDF or one interactive HTML page, into a
file or stdout, whole or not at all. Points are coloured by a column when one was asked for, else by cluster
(named on the map, noise in grey), else in one colour. Maps of image corpora can show pictures (`map_pictures`).
"""

from __future__ import annotations

from dataclasses import dataclass

from embedcli.errors import UsageError
from embedcli.formats.outputs import AtomicTarget, naming_write_errors
from embedcli.formats.targets import OutputTarget
from embedcli.provenance import Provenance
from embedcli.reduce.maps import Coloring, cluster_coloring, column_coloring, draw_static
from embedcli.reduce.methods import optional_module
from embedcli.reduce.run import PlotData
from embedcli.reduce.settings import Theme
from embedcli.reduce.thumbnails import PAGE_PICTURES, STATIC_PICTURES, MapPictures, gather_pictures


@dataclass(frozen=True)
class MapStyle:
    """How a map looks: its title, its size in inches and dots per inch (static maps), its colours."""

    title: str = ""
    size: float = 8.0
    dpi: int = 100
    theme: Theme = Theme.light


def map_pictures(plot: PlotData, target: OutputTarget, provenance: Provenance, seed: int) -> MapPictures:
    """The pictures a map of an image corpus shows: a seeded sample of points (more on the HTML page, where zooming
    reveals them) and, on a clustered map, each cluster's examples. Files are found through `provenance.media_root`;
    missing and unreadable ones are listed in the result, not raised."""
    count = PAGE_PICTURES if target.format == "html" else STATIC_PICTURES
    clusters = plot.clusters if plot.colors is None else None
    return gather_pictures(plot.points, plot.ids, provenance.media_root, count=count, seed=seed, clusters=clusters)


def write_map(plot: PlotData, target: OutputTarget, style: MapStyle, pictures: MapPictures | None = None) -> int:
    """Draw `plot` to `target` (a resolved plot output: png, svg, pdf or html; path None is stdout) atomically,
    with `pictures` (from `map_pictures`) for an image corpus.

    Returns the number of cluster names (or example strips) a static map had no free place for (0 for HTML).
    Raises UsageError for fewer than 2 output dimensions or a size/dpi out of range, EmbedcliError naming the
    extra to install when matplotlib is missing.
    """
    if plot.points.ndim != 2 or plot.points.shape[1] < 2:
        raise UsageError("a map needs at least 2 output dimensions", hint="use --dim 2 or more")
    if target.format != "html":
        optional_module("matplotlib", "matplotlib", "--plot")
    coloring = _coloring(plot)
    with (
        AtomicTarget(target.path, "." + target.format) as atomic,
        naming_write_errors(target.path, atomic.temp),
        open(atomic.path, "wb") as out,
    ):
        if target.format == "html":
            from embedcli.reduce.map_page import draw_html

            draw_html(
                plot.points,
                out,
                texts=plot.hover_texts,
                coloring=coloring,
                title=style.title,
                theme=style.theme,
                pictures=pictures,
            )
            return 0
        drawn = draw_static(
            plot.points,
            out,
            coloring=coloring,
            annotations=plot.labels,
            title=style.title,
            format=target.format,
            size=style.size,
            dpi=style.dpi,
            theme=style.theme,
            pictures=pictures,
        )
        return drawn.dropped


def _coloring(plot: PlotData) -> Coloring | None:
    if plot.colors is not None:
        return column_coloring(plot.colors)
    if plot.clusters is not None:
        return cluster_coloring(plot.clusters, plot.cluster_names)
    return None
