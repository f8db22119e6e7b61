"""Clusters, their names and the maps drawn from them: a planted corpus of three topics, static maps in three
formats read back (pixels, SVG text, the placed labels' extents from matplotlib's renderer), the HTML page's data."""

from __future__ import annotations

import base64
import io
import itertools
import json
import math
import re

import numpy as np
import pytest

from embedcli.errors import UsageError
from embedcli.reduce.clusters import NOISE, cluster_points, label_by_nearest, name_clusters
from embedcli.reduce.map_page import draw_html
from embedcli.reduce.maps import (
    PALETTE,
    THEMES,
    MapFormat,
    Theme,
    cluster_coloring,
    column_coloring,
    draw_static,
    map_title,
)

TOPICS = (
    ("football", "goal", "league", "striker", "match"),
    ("galaxy", "planet", "telescope", "orbit", "comet"),
    ("recipe", "oven", "flour", "butter", "dough"),
)
FILLER = ("the", "people", "today", "said", "very", "thing", "new", "good")


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """300 texts, 100 per topic, with 64-d vectors around one centre per topic and their 2-D PCA points."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 64)) * 3
    topic = np.repeat(np.arange(3), 100)
    vectors = (centres[topic] + rng.normal(size=(300, 64))).astype(np.float32)
    texts = [" ".join([*rng.choice(TOPICS[t], 3), *rng.choice(FILLER, 4)]) for t in topic]
    centred = vectors - vectors.mean(axis=0)
    points = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    return points, vectors, texts, topic


def _matches_topics(labels: np.ndarray, topic: np.ndarray) -> None:
    """Each planted topic lies (noise aside) in one cluster of its own, and there are exactly three clusters."""
    assert sorted(set(labels.tolist()) - {NOISE}) == [0, 1, 2]
    owners = set()
    for t in range(3):
        members = labels[(topic == t) & (labels != NOISE)]
        assert len(members) >= 90
        assert len(set(members.tolist())) == 1
        owners.add(int(members[0]))
    assert owners == {0, 1, 2}


@pytest.mark.parametrize("mode", ["hdbscan-points", "kmeans-vectors", "kmeans-points"])
def test_planted_topics_give_three_named_clusters(planted, mode) -> None:
    points, vectors, texts, topic = planted
    if mode == "hdbscan-points":
        labels = cluster_points(points)
    else:
        labels = cluster_points(points, vectors if mode == "kmeans-vectors" else None, n_clusters=3, seed=0)
    _matches_topics(labels, topic)
    names = name_clusters(labels, texts, top_words=3)
    assert sorted(names) == [0, 1, 2]
    for cluster, name in names.items():
        words = name.split()
        assert len(words) == 3
        planted_topic = TOPICS[int(np.bincount(topic[labels == cluster]).argmax())]
        assert set(words) <= set(planted_topic), (name, planted_topic)


def test_clusters_are_repeatable_and_ordered_by_size(planted) -> None:
    points, vectors, _, _ = planted
    keep = np.r_[0:100, 100:160, 200:230]  # topic sizes 100, 60, 30
    first = cluster_points(points[keep], vectors[keep], n_clusters=3, seed=3)
    assert np.array_equal(first, cluster_points(points[keep], vectors[keep], n_clusters=3, seed=3))
    assert np.bincount(first).tolist() == [100, 60, 30]


def test_far_scattered_points_are_noise() -> None:
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) + 12])
    strays = np.array([[40.0, 40.0], [-40.0, 30.0], [30.0, -40.0]])
    labels = cluster_points(np.concatenate([blobs, strays]))
    assert labels[-3:].tolist() == [NOISE] * 3
    assert sorted(set(labels[:-3].tolist()) - {NOISE}) == [0, 1]


@pytest.mark.slow
def test_large_inputs_cluster_on_a_sample_and_label_every_point() -> None:
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [30, 0], [0, 30], [30, 30]])
    truth = rng.integers(0, 4, 30_000)
    points = centres[truth] + rng.normal(size=(30_000, 2))
    labels = cluster_points(points, seed=5)
    assert len(set(labels.tolist()) - {NOISE}) == 4
    for t in range(4):  # nearly all of a blob in one cluster, even the points outside the fitted sample
        assert np.bincount(labels[truth == t][labels[truth == t] >= 0]).max() >= 0.95 * (truth == t).sum()


def test_rows_off_the_map_take_their_nearest_labelled_neighbour() -> None:
    rng = np.random.default_rng(3)
    labelled, labels, others = rng.normal(size=(200, 2)), rng.integers(-1, 5, 200), rng.normal(size=(500, 3))
    distances = ((others[:, None, :2] - labelled[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(label_by_nearest(others, labelled, labels), labels[distances.argmin(axis=1)])


def test_names_follow_the_c_tf_idf_formula() -> None:
    # Reference computed by hand from the formula: "common" is the most frequent word in cluster 0, but it is as
    # frequent in cluster 1, so its weight (tf × log(1 + A/f)) falls below the words only cluster 0 uses.
    texts = ["common common alpha", "common beta alpha", "common gamma", "common common delta", "noise words"]
    labels = np.array([0, 0, 1, 1, NOISE])
    names = name_clusters(labels, texts, top_words=2)
    # Cluster 0 counts: common 3, alpha 2, beta 1 (6 words); A = (6 + 5 + 2) / 3; f(common) = 6, f(alpha) = 2.
    a = 13 / 3
    weight = {"common": 3 / 6 * math.log1p(a / 6), "alpha": 2 / 6 * math.log1p(a / 2), "beta": 1 / 6 * math.log1p(a)}
    assert names[0].split() == sorted(weight, key=lambda w: (-weight[w], w))[:2]
    assert NOISE not in names


def test_clusters_without_words_get_a_plain_name() -> None:
    assert name_clusters(np.array([0, 0, 1]), ["the a", "", None]) == {0: "cluster 0", 1: "cluster 1"}
    # Numbers alone are not words; words with digits in them are.
    assert name_clusters(np.array([0, 0, 1]), ["2019 2020", "2019", "gpt4 2019"]) == {0: "cluster 0", 1: "gpt4"}


def test_bad_cluster_count_is_a_usage_error(planted) -> None:
    with pytest.raises(UsageError, match="--clusters 0"):
        cluster_points(planted[0], n_clusters=0)


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def _near(pixels: np.ndarray, hex_colour: str, over: str | None = None, tolerance: int = 30) -> int:
    """Pixels within `tolerance` of a colour, painted at alpha 0.8 `over` a background when one is given."""
    rgb = _rgb(hex_colour) if over is None else 0.8 * _rgb(hex_colour) + 0.2 * _rgb(over)
    return int((np.abs(pixels - rgb).sum(axis=2) < tolerance).sum())


@pytest.mark.parametrize("theme", list(Theme))
def test_png_shows_each_cluster_in_its_colour_with_its_name(planted, theme) -> None:
    points, _, texts, _ = planted
    labels = cluster_points(points)
    out = io.BytesIO()
    drawn = draw_static(
        points, out, coloring=cluster_coloring(labels, name_clusters(labels, texts)), size=6, dpi=80, theme=theme
    )
    pixels = _png_pixels(out.getvalue())
    assert pixels.shape == (480, 480, 3)
    background = THEMES[theme].background
    assert _near(pixels, background, tolerance=3) > 0.5 * pixels.shape[0] * pixels.shape[1]
    for colour in PALETTE[:3]:
        assert _near(pixels, colour, over=background) > 300  # 100 points of about 10 pixels each
    assert sorted(t.get_text() for t in drawn.labels) == sorted(name_clusters(labels, texts).values())


@pytest.mark.slow
def test_many_names_are_placed_without_overlap_inside_the_frame() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(5_000, 2))
    labels = cluster_points(points, n_clusters=40, seed=0)
    names = {c: f"topic{c} word{c} longer{c}" for c in range(40)}
    drawn = draw_static(points, io.BytesIO(), coloring=cluster_coloring(labels, names), size=8, dpi=100)
    figure = drawn.figure
    renderer = figure.canvas.get_renderer()
    frame = figure.axes[0].get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in drawn.labels]
    assert len(boxes) + drawn.dropped == 40
    assert len(boxes) >= 30  # crowded, but most names find a place
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)


def test_point_annotations_are_placed_with_the_names(planted) -> None:
    points, _, texts, _ = planted
    labels = cluster_points(points)
    notes = {i: texts[i] for i in (0, 1, 150, 299)}
    drawn = draw_static(points, io.BytesIO(), coloring=cluster_coloring(labels, {}), annotations=notes, size=6)
    placed = [t.get_text() for t in drawn.labels]
    shown = sorted(t if len(t) <= 40 else t[:39] + "…" for t in notes.values())  # long texts are cut at 40
    assert placed[:3] == ["cluster 0", "cluster 1", "cluster 2"] and sorted(placed[3:]) == shown
    renderer = drawn.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in drawn.labels]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_names_stay_inside_when_clusters_sit_on_the_edge() -> None:
    rng = np.random.default_rng(4)
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]]) * 10
    points = np.concatenate([c + rng.normal(size=(50, 2)) * 0.1 for c in corners])
    labels = np.repeat(np.arange(4), 50)
    names = {c: "a very long cluster name at the corner" for c in range(4)}
    drawn = draw_static(points, io.BytesIO(), coloring=cluster_coloring(labels, names), size=4, dpi=100)
    renderer = drawn.figure.canvas.get_renderer()
    frame = drawn.figure.axes[0].get_window_extent(renderer)
    assert len(drawn.labels) == 4
    for text in drawn.labels:
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def test_svg_and_pdf_are_written_whole_with_the_names(planted) -> None:
    points, _, texts, _ = planted
    labels = cluster_points(points)
    names = name_clusters(labels, texts)
    coloring = cluster_coloring(labels, names)
    svg, pdf = io.BytesIO(), io.BytesIO()
    draw_static(points, svg, coloring=coloring, title="v.parquet · m", format=MapFormat.svg)
    draw_static(points, pdf, coloring=coloring, title="v.parquet · m", format="pdf")
    page = svg.getvalue().decode()
    assert page.rstrip().endswith("</svg>")
    assert "v.parquet · m" in page  # the title as text; names are outlines (their halo is a path effect)
    assert page.count('<g id="text_') == 1 + len(names)
    for colour in PALETTE[:3]:
        assert colour.lower() in page.lower()
    assert pdf.getvalue().startswith(b"%PDF") and pdf.getvalue().rstrip().endswith(b"%%EOF")
    assert len(pdf.getvalue()) > 5_000


def test_same_map_same_bytes(planted) -> None:
    points, _, texts, _ = planted
    labels = cluster_points(points)
    coloring = cluster_coloring(labels, name_clusters(labels, texts))
    first, second = io.BytesIO(), io.BytesIO()
    draw_static(points, first, coloring=coloring, size=4, dpi=50)
    draw_static(points, second, coloring=coloring, size=4, dpi=50)
    assert first.getvalue() == second.getvalue()


def test_column_colouring_categories_and_numbers() -> None:
    categories = column_coloring(["b", "a", "b", None, *[f"x{i}" for i in range(20)]])
    assert categories.names[0] == "b" and len(categories.names) == 16 and categories.grey_name == "other"
    assert categories.groups[0] == categories.groups[2] == 0
    assert (categories.groups == NOISE).sum() == 24 - 2 - 15  # 16 shown: "b" (2 rows) and 15 single rows
    numbers = column_coloring(list(range(100)))
    assert numbers.values is not None and len(numbers.names) == 8
    assert set(np.bincount(numbers.groups).tolist()) <= {12, 13}  # quantile bins: equal counts, give or take one
    assert np.all(np.diff(numbers.groups) >= 0)
    out = io.BytesIO()
    drawn = draw_static(np.random.default_rng(0).normal(size=(100, 2)), out, coloring=numbers, size=4, dpi=50)
    assert len(drawn.figure.axes) == 2  # the map and its colour bar


def test_title_names_the_file_not_its_directory() -> None:
    title = map_title("/home/someone/data/v.parquet", "sentence-transformers/all-MiniLM-L6-v2", 2000, 5000)
    assert title == "v.parquet · sentence-transformers/all-MiniLM-L6-v2 · 2,000 of 5,000 points"
    assert map_title("-", "/models/my-model/", 3) == "stdin · my-model · 3 points"


def test_bad_inputs_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="2 output dimensions"):
        draw_static(np.zeros((5, 1)), io.BytesIO())
    with pytest.raises(UsageError, match="out of range"):
        draw_static(np.zeros((5, 2)), io.BytesIO(), dpi=5)
    with pytest.raises(UsageError, match="3 texts for 5 points"):
        draw_html(np.zeros((5, 2)), io.BytesIO(), texts=["a", "b", "c"])


def test_html_page_is_self_contained_and_carries_the_data(planted) -> None:
    points, _, texts, _ = planted
    labels = cluster_points(points)
    texts = [*texts[:-1], "evil </script><script>alert(1)</script> text"]
    out = io.BytesIO()
    written = draw_html(points, out, texts=texts, coloring=cluster_coloring(labels, {}), title="a <b> title")
    page = out.getvalue().decode()
    assert written == len(out.getvalue())
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"\b(src|href)\s*=", page)  # nothing to fetch
    assert "<title>a &lt;b&gt; title</title>" in page
    assert page.count("</script>") == 2  # the data's own "</script>" is escaped
    raw = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert raw is not None
    data = json.loads(raw.group(1))
    x = np.frombuffer(base64.b64decode(data["x"]), dtype="<f4")
    groups = np.frombuffer(base64.b64decode(data["g"]), dtype="<i4")
    np.testing.assert_array_equal(x, points[:, 0].astype(np.float32))
    np.testing.assert_array_equal(groups, labels)
    assert data["texts"] == texts
    assert data["names"] == ["cluster 0", "cluster 1", "cluster 2"]
