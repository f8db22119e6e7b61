"""Pictures for maps of image corpora (`reduce --plot --thumbnails`): which points get one, where their files are,
and the small pictures themselves.

A row's file is `media_root / id`, the folder `embed` recorded in the provenance (an absolute id stands alone; a
file embedded before the folder was recorded is looked for from the working folder). Two kinds of pictures:
a seeded sample of points shown at their place (bounded: a static map tries `STATIC_PICTURES`, the HTML page
carries `PAGE_PICTURES`), and for a clustered map a few examples per cluster, the members nearest its centre, which
stand for the cluster as its name does on a map of texts. A file that is missing or unreadable is left out, listed
once (`missing`, `unreadable`), never raised: the map is drawn with the pictures that could be read.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedcli.errors import EmbedcliError, InputError, UsageError
from embedcli.formats.media import thumbnail
from embedcli.provenance import Provenance

PICTURE_PIXELS = 64  # the longer side of each picture: a 48-pixel tile on screen stays sharp on a 1.5x display
STATIC_PICTURES = 150  # points a static map tries to show as pictures; those that would overlap are left out
PAGE_PICTURES = 1_000  # pictures the HTML page carries (about 2-3 KB each as JPEG), shown where they do not overlap
CLUSTER_EXAMPLES = 3
WORKERS = 2
MEDIA_HINT = "pip install 'embedcli[media]' (Pillow, soundfile, soxr)"


@dataclass
class MapPictures:
    """The pictures a map shows. `pictures` {point position: uint8 RGB (h, w, 3)}; `sample`: positions to show at
    their point, in placement order; `examples` {cluster: positions of its examples, nearest its centre first}.
    `missing` lists the ids whose file was not found, `unreadable` (id, reason) those that could not be decoded;
    `root` is the folder files were looked for in."""

    pictures: dict[int, np.ndarray] = field(default_factory=dict)
    sample: list[int] = field(default_factory=list)
    examples: dict[int, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    root: str | None = None

    @property
    def wanted(self) -> int:
        """How many files were looked for."""
        return len(self.pictures) + len(self.missing) + len(self.unreadable)


def check_picture_corpus(provenance: Provenance, name: str) -> None:
    """Raise UsageError unless `provenance` may describe images (recorded as image rows, or not recorded at all),
    EmbedcliError naming the extra when Pillow is not installed."""
    if provenance.modality not in (None, "image"):
        raise UsageError(
            f"--thumbnails draws images, but {name} holds {provenance.modality} vectors",
            hint="drop --thumbnails, or reduce vectors that `embed` made from images",
        )
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise EmbedcliError("--thumbnails needs Pillow, which is not installed", hint=MEDIA_HINT) from None


def file_of(row_id: str, root: str | None) -> Path:
    """Where the file of row `row_id` is: under `root` (an absolute id stands alone; no root: the working folder)."""
    return Path(root or os.curdir) / row_id


def gather_pictures(
    points: np.ndarray,
    ids: list[str],
    root: str | None,
    *,
    count: int,
    seed: int,
    clusters: np.ndarray | None = None,
    pixels: int = PICTURE_PIXELS,
) -> MapPictures:
    """Pictures for a map of `points` (n, 2+) whose rows are `ids`: a seeded sample of up to `count` points, and,
    with `clusters` (n,) labels (-1: noise), up to `CLUSTER_EXAMPLES` examples per cluster, the members nearest
    the member closest to its median. Files are decoded on a few threads into pictures of at most `pixels` a side.
    """
    if len(ids) != len(points):
        raise UsageError(f"{len(ids)} ids for {len(points)} points")
    rng = np.random.default_rng(seed)
    sample = [int(i) for i in rng.permutation(len(points))[: min(count, len(points))]]
    candidates = _example_candidates(points, clusters) if clusters is not None else {}
    wanted = sorted(set(sample).union(*candidates.values()))
    found = MapPictures(root=root)

    def load(position: int) -> tuple[int, np.ndarray | str | None]:
        path = file_of(ids[position], root)
        if not path.is_file():
            return position, None
        try:
            return position, thumbnail(path, size=pixels, name=ids[position])
        except InputError as exc:
            return position, str(exc).removeprefix(f"{ids[position]}: ")

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="embedcli-thumbnail") as pool:
        for position, result in pool.map(load, wanted):
            if result is None:
                found.missing.append(ids[position])
            elif isinstance(result, str):
                found.unreadable.append((ids[position], result))
            else:
                found.pictures[position] = result
    found.sample = [p for p in sample if p in found.pictures]
    for cluster, members in candidates.items():
        shown = [p for p in members if p in found.pictures][:CLUSTER_EXAMPLES]
        if shown:
            found.examples[cluster] = shown
    return found


def _example_candidates(points: np.ndarray, clusters: np.ndarray) -> dict[int, list[int]]:
    """Per cluster, twice `CLUSTER_EXAMPLES` members nearest its centre (spares for files that cannot be read)."""
    out: dict[int, list[int]] = {}
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    for cluster in (int(c) for c in np.unique(clusters) if c >= 0):
        members = np.flatnonzero(clusters == cluster)
        centre = xy[members][np.argmin(((xy[members] - np.median(xy[members], axis=0)) ** 2).sum(axis=1))]
        order = np.argsort(((xy[members] - centre) ** 2).sum(axis=1), kind="stable")
        out[cluster] = [int(p) for p in members[order[: 2 * CLUSTER_EXAMPLES]]]
    return out


def jpeg_data_uri(picture: np.ndarray, quality: int = 80) -> str:
    """`picture` (uint8 RGB) as a `data:image/jpeg;base64,...` URI: pictures travel inside the one HTML file."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
