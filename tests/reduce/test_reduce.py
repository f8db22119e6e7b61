"""Reduction methods against oracles: scikit-learn called directly, numpy brute force, and the fit reproduced."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli.errors import InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.outputs import WRITERS, open_vector_writer
from embedcli.formats.vector_batches import VectorBatches
from embedcli.formats.vector_files import read_vector_table
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch
from embedcli.reduce.methods import fit_reducer, random_matrix
from embedcli.reduce.run import ReductionRun
from embedcli.reduce.saved import check_applicable, load_reducer, save_reducer
from embedcli.reduce.settings import Projection, ReduceMethod, ReduceSettings

SEED = 1234


def structured(rows: int = 600, width: int = 32, offset: float = 0.5, seed: int = SEED) -> np.ndarray:
    """float32 rows with a decaying, well-separated spectrum around a non-zero mean."""
    rng = np.random.default_rng(seed)
    scales = 2.0 ** -np.arange(width, dtype=np.float32) * 4 + 0.01
    basis, _ = np.linalg.qr(rng.standard_normal((width, width)))
    x = (rng.standard_normal((rows, width)) * scales) @ basis.T + offset * rng.standard_normal(width)
    return x.astype(np.float32)


def blocks_of(x: np.ndarray, rows: int = 64):
    return (x[i : i + rows] for i in range(0, len(x), rows))


def fit(x: np.ndarray, method: ReduceMethod, dim: int, **kw):
    settings = ReduceSettings(method, dim, **kw)
    return fit_reducer(blocks_of(x), x.shape[1], settings, 64)


def assert_same_up_to_sign(ours: np.ndarray, theirs: np.ndarray, atol: float) -> None:
    """Columns (of outputs) or rows (of components) equal up to one sign each."""
    signs = np.sign(np.sum(ours * theirs, axis=0))
    np.testing.assert_allclose(ours * signs, theirs, atol=atol)


@pytest.mark.parametrize("offset", [0.5, 1000.0])
def test_pca_equals_sklearn_up_to_sign(offset):
    from sklearn.decomposition import PCA

    x = structured(offset=offset)
    reducer = fit(x, ReduceMethod.pca, 6).reducer
    oracle = PCA(6, svd_solver="full").fit(x.astype(np.float64))
    assert_same_up_to_sign(reducer.components.T, oracle.components_.T, atol=1e-4)
    np.testing.assert_allclose(reducer.explained_variance, oracle.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(reducer.explained_variance_ratio, oracle.explained_variance_ratio_, rtol=1e-4)
    np.testing.assert_allclose(reducer.mean, oracle.mean_, rtol=1e-5, atol=1e-5)
    scale = np.abs(oracle.transform(x)).max()
    assert_same_up_to_sign(reducer.transform(x), oracle.transform(x), atol=1e-4 * scale)
    assert reducer.fitted_rows == len(x)


def test_pca_whiten_equals_sklearn():
    from sklearn.decomposition import PCA

    x = structured()
    reducer = fit(x, ReduceMethod.pca, 4, whiten=True).reducer
    oracle = PCA(4, whiten=True).fit(x.astype(np.float64))
    assert_same_up_to_sign(reducer.transform(x), oracle.transform(x), atol=1e-3)


def test_pca_randomized_path_for_wide_inputs_matches_exact(monkeypatch):
    from embedcli.reduce import pca

    monkeypatch.setattr(pca, "RANDOMIZED_MIN_WIDTH", 64)
    x = structured(rows=400, width=128)
    exact_values, exact = np.linalg.eigh(np.cov(x.T.astype(np.float64)))
    values, components = pca.top_eigenpairs(np.cov(x.T.astype(np.float64)), 8, seed=SEED)
    np.testing.assert_allclose(values, exact_values[::-1][:8], rtol=1e-6)
    assert_same_up_to_sign(components.T, exact[:, ::-1][:, :8], atol=1e-6)


def test_svd_equals_sklearn_truncated_svd():
    from sklearn.decomposition import TruncatedSVD

    x = structured(offset=2.0)
    reducer = fit(x, ReduceMethod.svd, 5).reducer
    oracle = TruncatedSVD(5, algorithm="arpack").fit(x.astype(np.float64))
    assert reducer.mean is None
    assert_same_up_to_sign(reducer.components.T, oracle.components_.T, atol=1e-4)
    np.testing.assert_allclose(reducer.explained_variance_ratio, oracle.explained_variance_ratio_, rtol=1e-3)


def test_incremental_pca_subspace_is_close_to_exact():
    x = structured(rows=2000)
    exact = fit(x, ReduceMethod.pca, 4).reducer.components
    incremental = fit(x, ReduceMethod.incremental_pca, 4).reducer
    # Cosines of the principal angles between the two 4-d subspaces.
    cosines = np.linalg.svd(exact.astype(np.float64) @ incremental.components.T.astype(np.float64))[1]
    assert cosines.min() > 0.999
    assert incremental.fitted_rows == len(x)


def test_incremental_pca_takes_a_short_last_block():
    x = structured(rows=64 * 3 + 2)  # the last block has fewer rows than components
    reducer = fit(x, ReduceMethod.incremental_pca, 8).reducer
    assert reducer.fitted_rows == len(x)


@pytest.mark.parametrize("projection", list(Projection))
def test_random_projection_is_reproducible_and_keeps_distances(projection):
    x = structured(rows=200, width=512, offset=0.0)
    first = fit(x, ReduceMethod.random_projection, 256, projection=projection, seed=7).reducer
    again = fit(x, ReduceMethod.random_projection, 256, projection=projection, seed=7).reducer
    other = fit(x, ReduceMethod.random_projection, 256, projection=projection, seed=8).reducer
    np.testing.assert_array_equal(first.transform(x), again.transform(x))
    assert not np.array_equal(first.components, other.components)
    from scipy.spatial.distance import pdist

    ratio = pdist(first.transform(x)) / pdist(x)
    assert ratio.min() > 0.7 and ratio.max() < 1.3  # Johnson-Lindenstrauss at 256 dims
    if projection is Projection.sparse:
        density = np.count_nonzero(first.components) / first.components.size
        assert abs(density - 1 / np.sqrt(512)) < 0.01


def test_random_matrix_does_not_depend_on_data():
    settings = ReduceSettings(ReduceMethod.random_projection, 4, seed=3)
    np.testing.assert_array_equal(random_matrix(settings, 16), random_matrix(settings, 16))


def test_matryoshka_is_truncation_plus_l2_normalisation():
    x = structured()
    out = fit(x, ReduceMethod.matryoshka, 8).reducer.transform(x)
    expected = x[:, :8] / np.linalg.norm(x[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_tsne_is_reproducible_with_a_seed():
    x = structured(rows=120, width=16)
    first = fit(x, ReduceMethod.tsne, 2, seed=5)
    again = fit(x, ReduceMethod.tsne, 2, seed=5)
    assert first.reducer is None and first.training_output.shape == (120, 2)
    np.testing.assert_allclose(first.training_output, again.training_output)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("method", [ReduceMethod.pca, ReduceMethod.svd, ReduceMethod.matryoshka])
def test_saved_reducer_reproduces_the_fit(tmp_path, suffix, method):
    x = structured()
    reducer = fit(x, method, 5, whiten=method is ReduceMethod.pca).reducer
    reducer.source = {"model": "m", "dimension": 32}
    path = str(tmp_path / f"r{suffix}")
    assert save_reducer(reducer, path) is False
    loaded = load_reducer(path)
    np.testing.assert_array_equal(loaded.transform(x), reducer.transform(x))
    assert (loaded.method, loaded.input_dim, loaded.output_dim, loaded.source) == (method, 32, 5, reducer.source)


def test_linear_reducers_are_never_pickled(tmp_path):
    reducer = fit(structured(), ReduceMethod.pca, 2).reducer
    with pytest.raises(UsageError, match="never pickled"):
        save_reducer(reducer, str(tmp_path / "r.pkl"))
    assert not (tmp_path / "r.pkl").exists()


def test_pickles_load_only_when_trusted(tmp_path):
    path = tmp_path / "r.pkl"
    path.write_bytes(b"not even a pickle")
    with pytest.raises(UsageError, match="pickle"):
        load_reducer(str(path))
    with pytest.raises(InputError):
        load_reducer(str(path), trust_pickle=True)


def test_corrupt_reducer_is_an_input_error(tmp_path):
    path = tmp_path / "r.npz"
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputError, match="not a reducer"):
        load_reducer(str(path))


def test_reducer_checks_dimension_and_model():
    reducer = fit(structured(), ReduceMethod.pca, 2).reducer
    reducer.source = {"model": "all-MiniLM-L6-v2", "normalized": True}
    with pytest.raises(InputError, match="32-dimensional"):
        check_applicable(reducer, 16, {})
    with pytest.raises(InputError, match="model='all-MiniLM-L6-v2'"):
        check_applicable(reducer, 32, {"model": "other"})
    check_applicable(reducer, 32, {"model": "other"}, any_model=True)
    check_applicable(reducer, 32, {"model": "all-MiniLM-L6-v2", "normalized": True})


def write_table(x: np.ndarray, path, fmt: OutputFormat, texts: bool = True) -> None:
    ids = [f"row{i}" for i in range(len(x))]
    with open_vector_writer(str(path), fmt, Provenance(model="synthetic"), keep_text=texts) as writer:
        for start in range(0, len(x), 70):  # uneven writer batches
            end = min(start + 70, len(x))
            writer.write(EmbeddedBatch(ids[start:end], [f"text {i}" for i in range(start, end)], x[start:end]))


@pytest.mark.parametrize("fmt", list(WRITERS))  # every file format a writer makes (a store is not a file)
def test_vector_batches_match_whole_reads(tmp_path, fmt):
    x = structured(rows=250, width=8)
    path = tmp_path / f"v.{fmt.value}"
    write_table(x, path, fmt)
    whole = read_vector_table(str(path))
    with VectorBatches(str(path)) as data:
        assert (data.num_rows, data.width, data.fmt) == (250, 8, fmt)
        got = list(data.batches(100))
        assert all(len(b.ids) <= 140 for b in got)
        np.testing.assert_array_equal(np.concatenate([b.vectors for b in got]), whole.vectors)
        assert [i for b in got for i in b.ids] == whole.ids
        picked = np.array([0, 5, 99, 100, 249])
        np.testing.assert_array_equal(data.take(picked), x[picked])
        if fmt is not OutputFormat.npy:
            assert data.has_text and data.provenance.get("model", "synthetic") == "synthetic"


def test_fit_sample_fits_on_the_seeded_sample(tmp_path):
    from sklearn.decomposition import PCA

    x = structured(rows=3000)
    write_table(x, tmp_path / "v.parquet", OutputFormat.parquet)
    with VectorBatches(str(tmp_path / "v.parquet")) as data:
        run = ReductionRun(data, ReduceSettings(ReduceMethod.pca, 3, seed=9), fit_sample=500)
        run.fit()
        run.write(None)
    picked = np.sort(np.random.default_rng(9).choice(3000, 500, replace=False))
    oracle = PCA(3).fit(x[picked].astype(np.float64))
    assert_same_up_to_sign(run.reducer.components.T, oracle.components_.T, atol=1e-4)
    assert run.report.fitted_rows == 500 and run.report.rows == 3000
    assert 0.5 < run.report.trustworthiness <= 1.0
    assert run.output_provenance().reduction["fitted_rows"] == 500


def test_run_refuses_impossible_settings(tmp_path):
    x = structured(rows=20, width=8)
    write_table(x, tmp_path / "v.arrow", OutputFormat.arrow)
    with VectorBatches(str(tmp_path / "v.arrow")) as data:
        with pytest.raises(UsageError, match="more than the 8 input dimensions"):
            ReductionRun(data, ReduceSettings(ReduceMethod.pca, 9))
        with pytest.raises(UsageError, match="cannot place"):
            ReductionRun(data, ReduceSettings(ReduceMethod.tsne, 2), fit_sample=10)
        with pytest.raises(UsageError, match="2 or 3"):
            ReductionRun(data, ReduceSettings(ReduceMethod.tsne, 4))
