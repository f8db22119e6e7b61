"""inspect_vectors end to end: awkward rows, the axes, the verdicts, JSON and the figure."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from embedcli.errors import InputError, UsageError
from embedcli.inspect.figure import draw_report
from embedcli.inspect.measures import exact_knn
from embedcli.inspect.report import InspectReport, Level, inspect_vectors, to_json
from embedcli.metrics import Metric


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, dim))
    return (centres[rng.integers(0, 8, n)] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def report() -> InspectReport:
    x = _clustered(3000, 48, seed=0)
    x[:20] = 0  # zero rows
    x[20:60] = x[60:100]  # 40 duplicates
    x[100] = np.nan
    counts = np.random.default_rng(1).zipf(1.6, len(x))
    return inspect_vectors(x, metric=Metric.cosine, sample=1500, seed=3, word_counts=counts)


def test_awkward_rows_are_counted_and_break_nothing(report: InspectReport) -> None:
    q = report.quality
    assert (q.rows, q.nonfinite_rows, q.zero_rows, q.duplicate_rows) == (3000, 1, 20, 19 + 40)
    assert report.sample.rows == 1500 and report.sample.finite <= 1500
    assert report.sample.used < report.sample.finite  # the sampled zeros and copies are left out
    data = to_json(report)
    json.dumps(data, allow_nan=False)  # every figure is finite (or None)
    assert report.intrinsic_dimension.points_dropped == 0
    assert data["verdicts"][0]["topic"] == "data" and data["verdicts"][0]["level"] == "warning"


@pytest.mark.parametrize("metric", list(Metric))
def test_every_metric_survives_duplicates_and_zero_rows(metric: Metric) -> None:
    x = np.vstack([_clustered(400, 16, seed=2), np.zeros((30, 16), np.float32)])
    x = np.vstack([x, x[:100], 2 * x[:50]])  # copies, and parallel rows (zero cosine distance)
    found = inspect_vectors(x, metric=metric, sample=600, axes=2)
    assert np.isfinite(found.intrinsic_dimension.twonn) and found.intrinsic_dimension.twonn > 0
    assert np.isfinite(found.concentration.relative_contrast)
    assert found.hubness.points == found.sample.used
    json.dumps(to_json(found), allow_nan=False)


def test_json_round_trips_and_holds_every_section(report: InspectReport) -> None:
    data = to_json(report)
    assert json.loads(json.dumps(data)) == data
    for section in ("concentration", "hubness", "intrinsic_dimension", "anisotropy", "spectrum", "norms", "cost"):
        assert isinstance(data[section], dict), section
    assert data["hubness"]["k"] == 10
    assert sum(data["hubness"]["occurrences"]) == report.sample.used
    assert data["cost"]["precisions"][0] == {"precision": "float32", "bytes_per_vector": 192, "file_bytes": 576_000}
    assert data["norms"]["by_frequency"]["median_norm_by_decile"]


def test_two_topics_sit_at_the_two_ends_of_the_first_axis() -> None:
    rng = np.random.default_rng(11)
    dim = 64
    pets, money = rng.standard_normal(dim), rng.standard_normal(dim)
    words = [f"pet{i}" for i in range(300)] + [f"money{i}" for i in range(300)] + [f"other{i}" for i in range(900)]
    topic = np.concatenate([np.tile(pets, (300, 1)), np.tile(money, (300, 1)), np.zeros((900, dim))])
    x = (2.0 * topic + rng.standard_normal((len(words), dim))).astype(np.float32)
    found = inspect_vectors(x, texts=words, ids=np.arange(len(words)) + 1000, metric=Metric.cosine, axes=2)
    first = found.axes[0]
    ends = [{item.text[:3] for item in first.high}, {item.text[:3] for item in first.low}]  # type: ignore[index]
    assert sorted(map(sorted, ends)) == [["mon"], ["pet"]]
    assert first.high[0].id == first.high[0].row + 1000
    assert first.high[0].projection >= first.high[-1].projection > first.low[-1].projection >= first.low[0].projection
    assert len(found.axes) == 2


def test_dot_measures_dimension_in_euclidean_with_the_given_knn() -> None:
    calls: list[tuple[int, int, Metric]] = []

    def knn(vectors: np.ndarray, k: int, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        calls.append((len(vectors), k, metric))
        return exact_knn(vectors, k, metric)

    found = inspect_vectors(_clustered(500, 12, seed=4), metric=Metric.dot, knn=knn)
    assert [c[2] for c in calls] == [Metric.dot, Metric.euclidean]
    assert calls[0][:2] == (500, 20)
    assert found.metric == "dot"


def test_shifted_cloud_verdict_says_cone() -> None:
    x = (np.random.default_rng(9).standard_normal((800, 32)) + 10).astype(np.float32)
    found = inspect_vectors(x, metric=Metric.cosine)
    verdict = next(v for v in found.verdicts if v.topic == "anisotropy")
    assert verdict.level is Level.warning and "narrow cone" in verdict.text
    assert found.anisotropy.mean_cosine > 0.95


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError):
        inspect_vectors(np.zeros((50, 4), np.float32), metric=Metric.cosine)
    with pytest.raises(UsageError):
        inspect_vectors(np.ones((50, 4), np.float32), metric=Metric.cosine, sample=0)
    with pytest.raises(InputError):
        inspect_vectors(np.eye(10, dtype=np.float32), metric=Metric.cosine, texts=["a"])


def test_the_figure_is_a_non_blank_png(report: InspectReport) -> None:
    from PIL import Image

    out = io.BytesIO()
    draw_report(report, out)
    assert out.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("L"))
    assert image.shape[0] > 500 and image.shape[1] > 800
    assert (image < 128).mean() > 0.01  # ink: bars, curves and text, not an empty page
    assert len(np.unique(image)) > 20
