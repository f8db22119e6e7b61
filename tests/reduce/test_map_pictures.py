"""Pictures on maps of image corpora: which files are read (seeded sample, examples nearest each cluster's centre,
missing and unreadable files listed), the static map read back (pixels of each picture's colour, boxes that overlap
nothing and stay inside the frame, cluster names replaced by strips) and the HTML page's data URIs."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedcli.reduce.clusters import cluster_points
from embedcli.reduce.map_page import draw_html
from embedcli.reduce.maps import cluster_coloring, draw_static
from embedcli.reduce.thumbnails import CLUSTER_EXAMPLES, gather_pictures

# One pure colour per planted cluster, far from every palette colour, so a picture's pixels are told apart.
COLOURS = ((255, 0, 255), (0, 255, 0), (0, 0, 255))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[str], Path, np.ndarray]:
    """90 points in three far groups; point i's file is a picture in its group's colour (some 2:1, some 1:2)."""
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("pictures")
    topic = np.repeat(np.arange(3), 30)
    points = np.array([[0.0, 0.0], [20.0, 0.0], [10.0, 16.0]])[topic] + rng.normal(size=(90, 2))
    ids = []
    for i, t in enumerate(topic):
        shape = (40, 80, 3) if i % 2 else (80, 40, 3)
        (root / f"g{t}").mkdir(exist_ok=True)
        Image.fromarray(np.full(shape, COLOURS[t], dtype=np.uint8)).save(root / f"g{t}" / f"{i}.png")
        ids.append(f"g{t}/{i}.png")
    return points, ids, root, topic


def test_the_sample_is_seeded_and_bounded_and_examples_are_members_nearest_the_centre(corpus) -> None:
    points, ids, root, topic = corpus
    labels = cluster_points(points, n_clusters=3, seed=0)
    got = gather_pictures(points, ids, str(root), count=20, seed=5, clusters=labels)
    again = gather_pictures(points, ids, str(root), count=20, seed=5, clusters=labels)
    assert got.sample == again.sample and len(got.sample) == 20 and len(set(got.sample)) == 20
    assert gather_pictures(points, ids, str(root), count=20, seed=6).sample != got.sample
    assert not got.missing and not got.unreadable
    for cluster, members in got.examples.items():
        assert len(members) == CLUSTER_EXAMPLES and all(labels[m] == cluster for m in members)
        inside = np.flatnonzero(labels == cluster)
        centre = points[inside][np.argmin(((points[inside] - np.median(points[inside], axis=0)) ** 2).sum(axis=1))]
        distance = ((points[inside] - centre) ** 2).sum(axis=1)
        assert sorted(((points[members] - centre) ** 2).sum(axis=1)) == pytest.approx(np.sort(distance)[:3])
    picture = got.pictures[got.sample[0]]
    assert picture.dtype == np.uint8 and max(picture.shape[:2]) == 64
    assert tuple(picture[10, 10]) == COLOURS[topic[got.sample[0]]]


def test_missing_and_unreadable_files_are_listed_and_left_out(corpus, tmp_path: Path) -> None:
    points, ids, root, _ = corpus
    broken = tmp_path / "pictures"
    broken.mkdir()
    for name in ids[:10]:
        (broken / name).parent.mkdir(exist_ok=True)
        (broken / name).write_bytes((root / name).read_bytes())
    (broken / ids[3]).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    got = gather_pictures(points[:12], ids[:12], str(broken), count=12, seed=0)
    assert sorted(got.missing) == sorted(ids[10:12])
    assert [i for i, _ in got.unreadable] == [ids[3]] and "not a readable image" in got.unreadable[0][1]
    assert sorted(got.pictures) == [i for i in range(10) if i != 3] and 3 not in got.sample
    assert got.wanted == 12


def test_the_static_map_shows_pictures_that_overlap_nothing_inside_the_frame(corpus) -> None:
    points, ids, root, _ = corpus
    labels = cluster_points(points, n_clusters=3, seed=0)
    pictures = gather_pictures(points, ids, str(root), count=150, seed=0, clusters=labels)
    out = io.BytesIO()
    drawn = draw_static(
        points, out, coloring=cluster_coloring(labels, {}), annotations={0: "a label"}, size=6, dpi=80,
        pictures=pictures,
    )  # fmt: skip
    placed = drawn.pictures
    assert placed.clusters == {0, 1, 2} and len(placed.strips) == 3 and placed.points
    # Cluster names gave way to the strips; the annotation is still placed.
    assert [t.get_text() for t in drawn.labels] == ["a label"]
    renderer = drawn.figure.canvas.get_renderer()
    frame = drawn.figure.axes[0].get_window_extent(renderer)
    boxes = [a.get_window_extent(renderer) for a in [*placed.strips, *placed.points, *drawn.labels]]
    for box in boxes:
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1
    for a, b in ((a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]):
        assert a.x1 <= b.x0 + 1 or b.x1 <= a.x0 + 1 or a.y1 <= b.y0 + 1 or b.y1 <= a.y0 + 1
    pixels = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB")).astype(int)
    for colour in COLOURS:  # each strip alone is three pictures of about 20×20 pixels or more
        assert (np.abs(pixels - colour).sum(axis=2) < 10).sum() > 1_000


def test_without_pictures_the_map_has_none_of_their_colours(corpus) -> None:
    points, _, _, _ = corpus
    out = io.BytesIO()
    draw_static(points, out, coloring=cluster_coloring(cluster_points(points, n_clusters=3, seed=0), {}), size=6)
    pixels = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB")).astype(int)
    assert all((np.abs(pixels - colour).sum(axis=2) < 10).sum() == 0 for colour in COLOURS)


def test_the_html_page_carries_each_picture_once_as_a_data_uri(corpus) -> None:
    points, ids, root, _ = corpus
    labels = cluster_points(points, n_clusters=3, seed=0)
    pictures = gather_pictures(points, ids, str(root), count=10, seed=0, clusters=labels)
    out = io.BytesIO()
    draw_html(points, out, texts=ids, coloring=cluster_coloring(labels, {}), pictures=pictures)
    page = out.getvalue().decode()
    assert not re.search(r"\b(src|href)\s*=", page)  # nothing to fetch
    raw = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert raw is not None
    data = json.loads(raw.group(1))
    wanted = set(pictures.sample) | {p for e in pictures.examples.values() for p in e}
    assert sorted(p for p, _ in data["pics"]) == sorted(wanted)
    assert data["shown"] == pictures.sample
    assert data["examples"] == [pictures.examples[g] for g in range(3)]
    position, uri = data["pics"][0]
    assert uri.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.size == pictures.pictures[position].shape[1::-1]
