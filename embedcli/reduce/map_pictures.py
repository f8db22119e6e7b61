"""Pictures on static maps (PNG, SVG, PDF) of image corpora, drawn on a matplotlib axes whose limits are final.

Each cluster is shown by a strip of its examples (`MapPictures.examples`) framed in the cluster's colour, placed
like a name: at the first free spot on rings around the cluster's centre, inside the frame, over no box placed
before, with a thin line back to the centre when it had to move far. Then sampled points are shown by their own
picture, centred on the point (a picture away from its point would mislead): a picture that would overlap a strip,
a label or another picture, or leave the frame, is left out. Boxes are display-space (x0, y0, x1, y1) tuples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli.reduce.thumbnails import MapPictures

Box = tuple[float, float, float, float]
# A picture's side on the map as a share of the map's shorter side, within these bounds in points.
SIDE_SHARE, SIDE_MIN, SIDE_MAX = 1 / 14, 18.0, 64.0
POINT_SCALE = 0.8  # a point's own picture is a little smaller than a cluster's examples


@dataclass
class PlacedPictures:
    """What was drawn: the strips' and the points' artists, the clusters shown by a strip, strips left out."""

    strips: list[Any] = field(default_factory=list)
    points: list[Any] = field(default_factory=list)
    clusters: set[int] = field(default_factory=set)
    dropped: int = 0


def picture_side(width_inches: float, height_inches: float) -> float:
    """A picture's side in points for a map of this size."""
    return float(np.clip(min(width_inches, height_inches) * 72 * SIDE_SHARE, SIDE_MIN, SIDE_MAX))


def place_strips(
    axes: Any,
    points: np.ndarray,
    pictures: MapPictures,
    colors: dict[int, str],
    background: str,
    side: float,
    taken: list[Box],
) -> PlacedPictures:
    """Draw each cluster's examples as a framed strip near its centre, in `examples` order (cluster ids: the largest
    cluster first); appends the placed boxes to `taken`. `colors` {cluster: frame colour}."""
    from matplotlib.offsetbox import AnnotationBbox, HPacker

    placed = PlacedPictures()
    renderer = axes.figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    to_data = axes.transData.inverted()
    pad = 2.0 * axes.figure.dpi / 72
    for cluster, members in pictures.examples.items():
        centre = _centre(points, members)
        box_props = {"edgecolor": colors.get(cluster, "#888888"), "linewidth": 2, "facecolor": background}
        images = [_image(pictures.pictures[p], side) for p in members]
        probe = AnnotationBbox(HPacker(children=images, sep=2, pad=0), centre, xybox=centre, frameon=True, pad=0.15,
                               bboxprops=box_props)  # fmt: skip
        axes.add_artist(probe)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        anchor = axes.transData.transform(centre)
        spot = free_box(anchor, extent.width, extent.height, extent.height, frame, taken, pad)
        if spot is None:
            placed.dropped += 1
            continue
        taken.append(spot)
        middle = ((spot[0] + spot[2]) / 2, (spot[1] + spot[3]) / 2)
        far = math.dist(anchor, middle) > extent.height
        line = {"arrowstyle": "-", "color": box_props["edgecolor"], "lw": 0.8, "alpha": 0.8} if far else None
        strip = AnnotationBbox(
            HPacker(children=[_image(pictures.pictures[p], side) for p in members], sep=2, pad=0),
            centre, xybox=tuple(to_data.transform(middle)), frameon=True, pad=0.15, bboxprops=box_props,
            arrowprops=line, zorder=6,
        )  # fmt: skip
        axes.add_artist(strip)
        placed.strips.append(strip)
        placed.clusters.add(cluster)
    return placed


def place_point_pictures(
    axes: Any,
    points: np.ndarray,
    pictures: MapPictures,
    colors: list[str],
    side: float,
    taken: list[Box],
    placed: PlacedPictures,
) -> None:
    """Draw the sampled points' pictures centred on their points, in sample order, where each fits inside the
    frame over no box in `taken` (appended to). `colors[position]` frames each picture."""
    from matplotlib.offsetbox import AnnotationBbox

    renderer = axes.figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    to_pixels = axes.figure.dpi / 72
    gap = 1.0 * to_pixels
    for position in pictures.sample:
        picture = pictures.pictures[position]
        scale = side * POINT_SCALE / max(picture.shape[:2]) * to_pixels
        width, height = picture.shape[1] * scale + 2 * gap, picture.shape[0] * scale + 2 * gap
        x, y = axes.transData.transform(points[position, :2])
        box = (x - width / 2, y - height / 2, x + width / 2, y + height / 2)
        if not _inside(box, frame) or any(_overlap(box, other) for other in taken):
            continue
        taken.append(box)
        artist = AnnotationBbox(
            _image(picture, side * POINT_SCALE), tuple(points[position, :2]), frameon=True, pad=0.1,
            bboxprops={"edgecolor": colors[position], "linewidth": 1}, zorder=5,
        )  # fmt: skip
        axes.add_artist(artist)
        placed.points.append(artist)


def free_box(
    anchor: np.ndarray, width: float, height: float, step: float, frame: Any, taken: list[Box], pad: float
) -> Box | None:
    """The box of `width` × `height` (display pixels, padded by `pad`) at the first spot on rings around `anchor`
    that lies inside `frame` and overlaps no box in `taken`; None when there is none within 25 rings."""
    for ring in range(0, 25):
        turns = 1 if ring == 0 else 8 + 4 * ring
        for k in range(turns):
            angle = 2 * math.pi * k / turns
            cx, cy = anchor[0] + ring * step * 1.2 * math.cos(angle), anchor[1] + ring * step * 0.8 * math.sin(angle)
            box = (cx - width / 2 - pad, cy - height / 2 - pad, cx + width / 2 + pad, cy + height / 2 + pad)
            if _inside(box, frame) and not any(_overlap(box, other) for other in taken):
                return box
    return None


def _image(picture: np.ndarray, side: float) -> Any:
    from matplotlib.offsetbox import OffsetImage

    # OffsetImage sizes in points: `zoom` points per picture pixel.
    return OffsetImage(picture, zoom=side / max(picture.shape[:2]), interpolation="antialiased")


def _centre(points: np.ndarray, members: list[int]) -> tuple[float, float]:
    xy = points[members, :2]
    return float(xy[:, 0].mean()), float(xy[:, 1].mean())


def _inside(box: Box, frame: Any) -> bool:
    return box[0] >= frame.x0 and box[1] >= frame.y0 and box[2] <= frame.x1 and box[3] <= frame.y1


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
