"""The estimators against synthetic ground truth, scikit-dimension and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli.inspect.measures import (
    anisotropy,
    concentration,
    exact_knn,
    hubness,
    intrinsic_dimension,
    pairwise_distances,
    score_distances,
    spectrum,
)
from embedcli.metrics import Metric, brute_force


def _ball(n: int, d: int, big_d: int, seed: int) -> np.ndarray:
    """n points uniform in a d-dimensional unit ball, rotated into big_d dimensions."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x *= rng.random((n, 1)) ** (1 / d) / np.linalg.norm(x, axis=1, keepdims=True)
    basis, _ = np.linalg.qr(rng.standard_normal((big_d, d)))
    return (x @ basis.T).astype(np.float32)


@pytest.mark.parametrize("metric", list(Metric))
def test_exact_knn_matches_brute_force_and_skips_self(metric: Metric) -> None:
    x = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
    indices, scores = exact_knn(x, 5, metric, block=64)
    truth = brute_force(metric, x, x)
    np.fill_diagonal(truth, -np.inf)
    assert not (indices == np.arange(300)[:, None]).any()
    expected = -np.sort(-truth, axis=1)[:, :5]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(truth, indices, 1), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", [Metric.cosine, Metric.euclidean, Metric.manhattan, Metric.hamming])
def test_neighbour_distances_agree_with_pairwise_distances(metric: Metric) -> None:
    x = np.random.default_rng(2).standard_normal((200, 8)).astype(np.float32)
    indices, scores = exact_knn(x, 3, metric)
    every = pairwise_distances(metric, x, x)
    if metric is not Metric.cosine:  # the oracle: metrics.brute_force's negated distances
        np.testing.assert_allclose(every, -brute_force(metric, x, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(score_distances(metric, scores), np.take_along_axis(every, indices, 1), rtol=1e-4)


@pytest.mark.parametrize("d", [2, 5])
def test_ball_dimension_within_ten_percent(d: int) -> None:
    x = _ball(5000, d, 64, seed=d)
    _, scores = exact_knn(x, 20, Metric.euclidean)
    found = intrinsic_dimension(score_distances(Metric.euclidean, scores))
    assert found.twonn == pytest.approx(d, rel=0.1)
    assert found.mle == pytest.approx(d, rel=0.1)
    assert found.points_dropped == 0


def test_cosine_dimension_is_the_sphere_dimension() -> None:
    # a 4-ball scaled to unit rows is a 3-sphere: the chord distance keeps TwoNN near 3 (1 - cos would read ~1.5)
    x = _ball(4000, 4, 32, seed=7)
    _, scores = exact_knn(x, 20, Metric.cosine)
    assert intrinsic_dimension(score_distances(Metric.cosine, scores)).twonn == pytest.approx(3, rel=0.12)


def test_scikit_dimension_agrees() -> None:
    skdim = pytest.importorskip("skdim")
    x = _ball(3000, 6, 40, seed=3)
    _, scores = exact_knn(x, 20, Metric.euclidean)
    found = intrinsic_dimension(score_distances(Metric.euclidean, scores), mle_k=20)
    assert found.twonn == pytest.approx(skdim.id.TwoNN().fit(x).dimension_, rel=0.03)
    assert found.mle == pytest.approx(skdim.id.MLE(K=20).fit(x).dimension_, rel=0.03)


def test_zero_distances_are_left_out_of_the_dimension() -> None:
    x = _ball(2000, 3, 10, seed=4)
    doubled = np.vstack([x, x[:300]])  # 300 exact duplicates: nearest distance 0 for 600 rows
    _, scores = exact_knn(doubled, 20, Metric.euclidean)
    found = intrinsic_dimension(score_distances(Metric.euclidean, scores))
    assert found.points_dropped == 600
    assert np.isfinite(found.twonn) and np.isfinite(found.mle)
    assert found.twonn == pytest.approx(3, rel=0.15)


def test_growing_dimension_concentrates_distances_and_grows_hubs() -> None:
    contrasts, skews = [], []
    for d in (3, 30, 300):
        x = np.random.default_rng(d).standard_normal((2000, d)).astype(np.float32)
        contrasts.append(concentration(x, Metric.euclidean, queries=300).relative_contrast)
        indices, _ = exact_knn(x, 10, Metric.euclidean)
        skews.append(hubness(indices, 10).skewness)
    assert contrasts[0] > contrasts[1] > contrasts[2]
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 1 < skews[2]


def test_hubness_of_a_known_graph() -> None:
    # row 0 is everyone's neighbour; k = 1; N_1 = [3, 1, 0, 0]
    indices = np.array([[1], [0], [0], [0]])
    found = hubness(indices, 1)
    counts = np.array([3.0, 1, 0, 0])
    assert found.antihub_share == 0.5
    assert found.hub_share == 0.25
    assert found.robin_hood == pytest.approx(np.abs(counts - 1).sum() / 8)
    assert found.skewness == pytest.approx(((counts - 1) ** 3).mean() / counts.std() ** 3)
    assert found.occurrences == [2, 1, 0, 1]
    assert found.max_occurrence == 3


def test_concentration_by_hand() -> None:
    x = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    found = concentration(x, Metric.euclidean, queries=3)
    # D_min/D_max per query: 0 -> 1/3, 1 -> 1/2, 3 -> 2/3; contrast 2, 1, 0.5
    assert found.relative_contrast == pytest.approx(1.0)
    assert found.nearest_closer == pytest.approx(1 - 1 / 2)


def test_shifted_cloud_is_anisotropic_until_centred() -> None:
    x = np.random.default_rng(5).standard_normal((3000, 50)) + 20.0
    found = anisotropy(x)
    assert found.mean_cosine > 0.95
    assert abs(found.mean_cosine_centred) < 0.01
    units = x / np.linalg.norm(x, axis=1, keepdims=True)
    pairs = units[:200] @ units[:200].T
    assert anisotropy(x[:200]).mean_cosine == pytest.approx((pairs.sum() - 200) / (200 * 199))


def test_spectrum_of_a_low_rank_cloud() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1000, 3)) @ rng.standard_normal((3, 40)) + 1e-4 * rng.standard_normal((1000, 40))
    found, mean, axes = spectrum(x, components=2)
    assert found.dims_for == [3, 3, 3]
    assert sum(found.explained_variance[:3]) > 0.9999
    assert 1 < found.effective_rank < 3.5
    np.testing.assert_allclose(mean, x.mean(axis=0))
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-9)


@pytest.mark.parametrize("rows", [200, 30])  # more rows than dimensions, and fewer: the two eigen paths
def test_spectrum_matches_svd(rows: int) -> None:
    x = np.random.default_rng(8).standard_normal((rows, 40)) * np.linspace(3, 0.1, 40)
    found, _, axes = spectrum(x, components=3)
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    share = singular**2 / (singular**2).sum()
    np.testing.assert_allclose(found.explained_variance[: len(share) - 1], share[:-1], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.abs(axes @ vt[:3].T), np.eye(3), atol=1e-6)
    p = singular / singular.sum()
    assert found.effective_rank == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-6)
