"""fast_exact: the certified bf16/int8/float32 search returns the exact top k (ids and scores) of a float64 oracle."""

from __future__ import annotations

import json
import sys
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
    measure_rates,
    top_k_fast,
)
from embedcli.search.kernel_choice import cheapest_kernel, usable_kernels

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
        if kernel != "float32":
            assert plain.candidates > 4 * 100  # the low-precision bound cannot separate the duplicates
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


def _approximate(check: _Pass, scores: object) -> np.ndarray:
    """A pass's approximate scores in float64 and the true scale (int8 keeps cosine/dot divided by the query's)."""
    wide = scores.double().numpy() if hasattr(scores, "double") else np.asarray(scores, np.float64)
    return wide * check.scale[:, None]


@pytest.mark.parametrize("kernel", ["bf16", "int8"])
def test_the_low_precision_bound_holds_on_every_pair(kernel: str) -> None:
    """The certified bound is a proof under stated assumptions (bf16: float32 accumulation; int8: exact integer
    sums): check it, including rows with a wide dynamic range and large cancellations, both for the block's bound
    and each pair's own."""
    rng = np.random.default_rng(12)
    dim = 384
    corpus = rng.standard_normal((3000, dim)).astype(np.float32)
    corpus[:1000] *= rng.lognormal(0, 3, (1000, dim)).astype(np.float32)
    corpus[1000:1500, ::2] = corpus[1000:1500, 1::2]  # pairs that cancel against the query below
    queries = rng.standard_normal((64, dim)).astype(np.float32)
    queries[:32, 1::2] = -queries[:32, ::2]
    queries[32:40] *= rng.lognormal(0, 3, (8, dim)).astype(np.float32)  # one large element sets a coarse int8 scale
    for metric in (Metric.dot, Metric.euclidean):
        low = LowCorpus(corpus, metric, kernel)
        check = _Pass(kernel, metric, queries, low.product)
        approx = _approximate(check, check.scores(low.block(0, len(corpus)), low.squares, np.empty(0, np.int64)))
        exact = queries.astype(np.float64) @ corpus.T.astype(np.float64)
        if metric is Metric.euclidean:
            exact = 2 * exact - (corpus.astype(np.float64) ** 2).sum(axis=1)
        block = check.bound(low, 0, len(corpus))[:, None]
        pairs = check.pair_bound(low, *np.indices(exact.shape)).reshape(exact.shape)
        assert (pairs <= block * (1 + 1e-12)).all()
        for error in (block, pairs):
            assert (check.lowest_true(approx, error) <= exact).all()
            assert (check.highest_true(approx, error) >= exact).all()
    assert error_factor(kernel, dim) < (0.012 if kernel == "bf16" else 0.4)


def test_other_metrics_and_mismatches_are_refused() -> None:
    corpus = np.ones((4, 3), np.float32)
    with pytest.raises(UsageError, match="manhattan"):
        top_k_fast(corpus, corpus, 1, Metric.manhattan, kernel="float32")
    with pytest.raises(UsageError, match="do not match"):
        top_k_fast(np.ones((2, 5), np.float32), corpus, 1, Metric.dot, kernel="float32")
    with pytest.raises(UsageError, match="unknown exact kernel"):
        top_k_fast(corpus, corpus, 1, Metric.dot, kernel="int4")


def test_choose_kernel_keeps_small_jobs_on_float32_and_caches_its_measurement(tmp_path: Path) -> None:
    assert choose_kernel(10, 1000, 384, cache_dir=tmp_path, measure=measure_rates) == "float32"
    assert not (tmp_path / "exact_kernels.json").exists()  # nothing measured for a job too small to repay an import
    # The choice weighs the cost of importing each kernel's libraries, which the measurement imports: import them
    # first, so both calls below decide in the same state whatever tests ran before in this process.
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401

    usable = usable_kernels()
    told: list[str] = []
    big = choose_kernel(10_000, 2_000_000, 384, cache_dir=tmp_path, measure=measure_rates, announce=told.append)
    assert len(told) == 1 and "once" in told[0]  # the user hears why this first run takes seconds longer
    cached = json.loads((tmp_path / "exact_kernels.json").read_text())
    rates = cached["rates"]
    assert set(rates) == set(usable) and all(rate > 0 for rate in rates.values())
    assert big == max(usable, key=lambda kernel: rates[kernel])  # the job is large: imports cost nothing here

    def refuse(kernels: list[str]) -> dict[str, float]:
        raise AssertionError("measured again")

    assert choose_kernel(10_000, 2_000_000, 384, tmp_path, refuse, told.append) == big  # from the cache, silently
    assert len(told) == 1
    # Speeds cached on another CPU (a cache folder that moved machines) are measured again, here made to favour float32
    (tmp_path / "exact_kernels.json").write_text(json.dumps({**cached, "cpu": "another machine"}))
    again = choose_kernel(
        10_000,
        2_000_000,
        384,
        cache_dir=tmp_path,
        measure=lambda kernels: dict.fromkeys(kernels, 1e9) | {"float32": 1e12},
    )
    assert again == "float32"
    assert json.loads((tmp_path / "exact_kernels.json").read_text())["cpu"] != "another machine"
    assert ("bf16" in usable) == bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
    assert "int8" in usable  # onnxruntime is installed with the tests


def test_the_choice_charges_each_kernel_its_import() -> None:
    """A mid-sized job goes to the kernel whose import plus search is least, not to the fastest search."""
    rates = {"float32": 1e11, "int8": 2e11, "bf16": 4e11}  # int8 halves float32's time, bf16 quarters it
    fresh = {"float32": 0.0, "int8": 0.3, "bf16": 2.0}
    imported = {"float32": 0.0, "int8": 0.05, "bf16": 0.05}
    assert cheapest_kernel(1e11, rates, fresh) == "int8"  # float32 1 s; int8 0.8 s; bf16 2.25 s
    assert cheapest_kernel(2e12, rates, fresh) == "bf16"  # int8 10.3 s; bf16 7 s
    assert cheapest_kernel(1e11, rates, imported) == "bf16"  # nothing to import: the fastest search wins
    assert cheapest_kernel(1e9, rates, fresh) == "float32"
    assert cheapest_kernel(1e11, {**rates, "int8": 0.0}, fresh) == "float32"  # int8 not usable (not measured)


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


@pytest.mark.parametrize("metric", METRICS)
def test_int8_at_63_levels_as_on_cpus_without_vnni(metric: Metric, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without VNNI the corpus is quantized to 63 levels (AVX2's int16 pair sums cannot saturate); this CPU may
    have VNNI, so the level count is forced: the looser bound must still certify the exact top k."""
    from embedcli.search import fast_exact

    monkeypatch.setattr(fast_exact, "corpus_levels", lambda flags: 63)
    rng = np.random.default_rng(14)
    corpus, queries = vectors(rng, 3000, 64, metric), vectors(rng, 50, 64, metric)
    low = LowCorpus(corpus, metric, "int8")
    assert np.abs(low.low[0][0]).max() == 63
    expected_rows, expected_scores = oracle(metric, queries, corpus, 20)
    for k in (1, 10, 20):
        found = top_k_fast(queries, low, k, metric, block_rows=1024)
        assert_same(found, (expected_rows[:, :k], expected_scores[:, :k]))


def test_int8_without_onnxruntime_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(UsageError, match="needs onnxruntime") as raised:
        LowCorpus(np.ones((4, 3), np.float32), Metric.dot, "int8")
    assert "embedcli[onnx]" in (raised.value.hint or "")
