"""fast_exact: the certified bf16/float32 search returns the exact top k (ids and scores) of a float64 oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedcli.errors import UsageError
from embedcli.metrics import Metric, prepare
from embedcli.search.fast_exact import (
    KERNELS,
    LowCorpus,
    SearchStats,
    _Pass,
    choose_kernel,
    cpu_flags,
    error_factor,
    top_k_fast,
)

METRICS = [Metric.cosine, Metric.dot, Metric.euclidean]


def oracle(metric: Metric, queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of prepared float32 rows (float64, rounded to float32), ranked by score then lower row."""
    q, c = queries.astype(np.float64), corpus.astype(np.float64)
    scores = -np.sqrt(((q[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)) if metric is Metric.euclidean else q @ c.T
    scores = scores.astype(np.float32)
    scores[~np.isfinite(scores)] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, 1)


def assert_same(found: tuple[np.ndarray, np.ndarray], expected: tuple[np.ndarray, np.ndarray]) -> None:
    rows, scores = found
    want_rows, want_scores = expected
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, want_scores)
    np.testing.assert_array_equal(rows, want_rows)


def vectors(rng: np.random.Generator, n: int, dim: int, metric: Metric) -> np.ndarray:
    raw = rng.standard_normal((n, dim)).astype(np.float32)
    if metric is not Metric.cosine:
        raw *= rng.uniform(0.2, 3.0, (n, 1)).astype(np.float32)  # varied lengths: dot and euclidean see them
    return prepare(metric, raw)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("metric", METRICS)
def test_every_k_matches_the_oracle_on_random_vectors(metric: Metric, kernel: str) -> None:
    rng = np.random.default_rng(7)
    corpus, queries = vectors(rng, 2000, 48, metric), vectors(rng, 60, 48, metric)
    low = LowCorpus(corpus, metric, kernel)
    expected_rows, expected_scores = oracle(metric, queries, corpus, 40)
    for k in [*range(1, 17), 25, 40]:
        found = top_k_fast(queries, low, k, metric, block_rows=512, query_chunk=40)
        assert_same(found, (expected_rows[:, :k], expected_scores[:, :k]))


@pytest.mark.parametrize("metric", METRICS)
def test_agrees_with_a_float32_numpy_brute_force(metric: Metric) -> None:
    rng = np.random.default_rng(8)
    corpus, queries = vectors(rng, 4000, 64, metric), vectors(rng, 50, 64, metric)
    rows, scores = top_k_fast(queries, corpus, 10, metric, kernel="bf16", block_rows=1024)
    if metric is Metric.euclidean:
        brute = -np.sqrt(np.maximum(((queries[:, None, :] - corpus[None, :, :]) ** 2).sum(axis=2), 0))
    else:
        brute = queries @ corpus.T
    brute32 = brute.astype(np.float32)
    order = np.argsort(-brute32, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(scores, np.take_along_axis(brute32, order, 1), rtol=1e-5, atol=1e-5)
    gaps = -np.diff(np.take_along_axis(brute32, np.argsort(-brute32, axis=1)[:, :11], 1), axis=1)
    clear = (gaps > 1e-4).all(axis=1)  # queries with no near-tie among their 11 best: the ids must agree
    assert clear.sum() > 40
    np.testing.assert_array_equal(rows[clear], order[clear])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("metric", METRICS)
def test_near_duplicates_grow_the_candidates_and_fall_back(metric: Metric, kernel: str) -> None:
    rng = np.random.default_rng(9)
    bases = rng.standard_normal((6, 32)).astype(np.float32)
    noise = rng.standard_normal((2400, 32)).astype(np.float32) * np.float32(1e-2)
    corpus = prepare(metric, bases[rng.integers(0, 6, 2400)] + noise)  # closer than bf16 can tell apart
    queries = prepare(metric, bases[:4] + rng.standard_normal((4, 32)).astype(np.float32) * np.float32(1e-3))
    expected_rows, expected_scores = oracle(metric, queries, corpus, 30)
    for k in (1, 2, 10, 30):
        plain, crowded = SearchStats(), SearchStats()
        found = top_k_fast(queries, corpus, k, metric, kernel=kernel, block_rows=512, stats=plain)
        assert_same(found, (expected_rows[:, :k], expected_scores[:, :k]))
        found = top_k_fast(queries, corpus, k, metric, kernel=kernel, block_rows=512, max_candidates=k, stats=crowded)
        assert_same(found, (expected_rows[:, :k], expected_scores[:, :k]))
        if kernel == "bf16":
            assert plain.candidates > 4 * 100  # the bf16 bound cannot separate the duplicates
            assert crowded.fallbacks > 0 and crowded.candidates < plain.candidates


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("metric", METRICS)
def test_exact_ties_rank_the_lower_row_first(metric: Metric, kernel: str) -> None:
    rng = np.random.default_rng(10)
    base = vectors(rng, 300, 24, metric)
    corpus = np.concatenate([base, base[::-1], base])  # every row three times, across blocks
    queries = prepare(metric, base[:20] + np.float32(0.01))
    rows, scores = top_k_fast(queries, corpus, 9, metric, kernel=kernel, block_rows=256)
    assert_same((rows, scores), oracle(metric, queries, corpus, 9))
    assert (scores[:, 0] == scores[:, 1]).all() and (rows[:, 0] < rows[:, 1]).all()


@pytest.mark.parametrize("kernel", KERNELS)
def test_nan_and_skipped_rows_are_never_hits_and_short_results_are_padded(kernel: str) -> None:
    rng = np.random.default_rng(11)
    corpus = vectors(rng, 40, 16, Metric.dot)
    corpus[[3, 17]] = np.nan
    corpus[25, 4] = np.inf
    queries = vectors(rng, 5, 16, Metric.dot)
    rows, scores = top_k_fast(queries, corpus, 50, Metric.dot, kernel=kernel, skip=np.array([0, 39]))
    usable = np.setdiff1d(np.arange(40), [0, 3, 17, 25, 39])
    clean = corpus[usable]
    want_rows, want_scores = oracle(Metric.dot, queries, clean, len(usable))
    assert_same((rows[:, : len(usable)], scores[:, : len(usable)]), (usable[want_rows], want_scores))
    assert (rows[:, len(usable) :] == -1).all() and np.isneginf(scores[:, len(usable) :]).all()


def test_the_bf16_bound_holds_on_every_pair() -> None:
    """The certified bound is a proof under stated assumptions (float32 accumulation): check it, including rows
    with a wide dynamic range and large cancellations."""
    rng = np.random.default_rng(12)
    dim = 384
    corpus = rng.standard_normal((3000, dim)).astype(np.float32)
    corpus[:1000] *= rng.lognormal(0, 3, (1000, dim)).astype(np.float32)
    corpus[1000:1500, ::2] = corpus[1000:1500, 1::2]  # pairs that cancel against the query below
    queries = rng.standard_normal((64, dim)).astype(np.float32)
    queries[:32, 1::2] = -queries[:32, ::2]
    for metric in (Metric.dot, Metric.euclidean):
        low = LowCorpus(corpus, metric, "bf16")
        check = _Pass("bf16", metric, queries)
        approx = check.scores(low.block(0, len(corpus)), low.squares, np.empty(0, np.int64)).double().numpy()
        exact = queries.astype(np.float64) @ corpus.T.astype(np.float64)
        if metric is Metric.euclidean:
            exact = 2 * exact - (corpus.astype(np.float64) ** 2).sum(axis=1)
        error = check.bound(low, 0, len(corpus))[:, None]
        allowed = error if metric is Metric.euclidean else error + check.out * np.abs(approx)
        assert (np.abs(approx - exact) <= allowed).all()
    assert error_factor("bf16", dim) < 0.012


def test_other_metrics_and_mismatches_are_refused() -> None:
    corpus = np.ones((4, 3), np.float32)
    with pytest.raises(UsageError, match="manhattan"):
        top_k_fast(corpus, corpus, 1, Metric.manhattan, kernel="float32")
    with pytest.raises(UsageError, match="do not match"):
        top_k_fast(np.ones((2, 5), np.float32), corpus, 1, Metric.dot, kernel="float32")
    with pytest.raises(UsageError, match="unknown exact kernel"):
        top_k_fast(corpus, corpus, 1, Metric.dot, kernel="int4")


def test_choose_kernel_keeps_small_jobs_on_float32_and_caches_its_measurement(tmp_path: Path) -> None:
    assert choose_kernel(10, 1000, 384, cache_dir=tmp_path) == "float32"
    assert not (tmp_path / "exact_kernel.json").exists()  # nothing measured for a job too small to repay torch
    # The choice weighs the cost of importing torch, which the measurement itself imports: import it first, so
    # both calls below decide in the same state whatever tests ran before in this process.
    import torch  # noqa: F401

    big = choose_kernel(10_000, 2_000_000, 384, cache_dir=tmp_path)
    if {"avx512_bf16", "amx_bf16"} & cpu_flags():
        rates = json.loads((tmp_path / "exact_kernel.json").read_text())
        assert rates["bf16"] > 0 and rates["float32"] > 0
        work = 10_000 * 2_000_000 * 384
        saved = work / rates["float32"] - work / rates["bf16"]
        assert big == ("bf16" if saved > 0.05 else "float32")  # 0.05 s: what an already imported torch costs
        assert choose_kernel(10_000, 2_000_000, 384, cache_dir=tmp_path) == big  # read back from the cache
    else:
        assert big == "float32"


@pytest.mark.parametrize("kernel", KERNELS)
def test_excluded_pairs_are_never_hits_even_when_crowded(kernel: str) -> None:
    """A corpus searched against itself, each query's own row excluded (as `similar` finds near-duplicates)."""
    rng = np.random.default_rng(13)
    corpus = vectors(rng, 1500, 32, Metric.cosine)
    corpus[700:760] = corpus[700] + np.float32(1e-3) * rng.standard_normal((60, 32)).astype(np.float32)
    corpus = prepare(Metric.cosine, corpus)
    queries = corpus[::10]
    own = np.arange(0, 1500, 10)
    exclude = (np.arange(len(own)), own)
    scores_all = queries.astype(np.float64) @ corpus.T.astype(np.float64)
    scores_all[np.arange(len(own)), own] = -np.inf
    masked = scores_all.astype(np.float32)
    order = np.lexsort((np.broadcast_to(np.arange(1500), masked.shape), -masked), axis=1)[:, :12]
    expected = (order, np.take_along_axis(masked, order, 1))
    for limit in (4096, 3):
        found = top_k_fast(
            queries, corpus, 12, Metric.cosine, kernel=kernel, exclude=exclude, block_rows=512, max_candidates=limit
        )
        assert_same(found, expected)
        assert not (found[0] == own[:, None]).any()
