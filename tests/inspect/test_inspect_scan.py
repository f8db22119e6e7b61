"""The one pass over every row, against numpy over the whole matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedcli.inspect.scan import scan


def test_counts_and_axis_ends_match_numpy_across_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 12)).astype(np.float16)
    x[:5] = 0
    x[5] = -0.0  # equal to 0.0: one more duplicate of the zero row
    x[10:40] = x[500:530]
    x[50, 3] = np.inf
    x[51, 0] = np.nan
    np.save(tmp_path / "v.npy", x)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    mean = rng.standard_normal(12).astype(np.float32)
    axes = rng.standard_normal((3, 12)).astype(np.float32)
    found = scan(mapped, mean, axes, ends=4, block=97)  # many blocks, the last one short

    rows = x.astype(np.float32)
    finite = np.isfinite(rows).all(axis=1)
    assert found.nonfinite_rows == 2
    assert found.zero_rows == 6
    assert found.duplicate_rows == finite.sum() - len(np.unique(rows[finite] + np.float32(0), axis=0))
    assert found.duplicate_rows == 5 + 30
    np.testing.assert_allclose(found.lengths[finite], np.linalg.norm(rows[finite], axis=1), rtol=1e-6)
    assert np.isnan(found.lengths[~finite]).all()
    projected = (rows - mean) @ axes.T
    projected[~finite] = np.nan
    for axis in range(3):
        order = np.argsort(np.nan_to_num(-projected[:, axis], nan=np.inf), kind="stable")
        np.testing.assert_allclose(found.high_values[axis], projected[order[:4], axis], rtol=1e-5)
        np.testing.assert_array_equal(found.high[axis], order[:4])
        low = np.argsort(np.nan_to_num(projected[:, axis], nan=np.inf), kind="stable")[:4]
        np.testing.assert_array_equal(found.low[axis], low)
        assert (found.low_values[axis] <= found.high_values[axis].min()).all()


def test_no_axes_and_all_distinct() -> None:
    x = np.random.default_rng(1).standard_normal((300, 5)).astype(np.float32)
    found = scan(x)
    assert (found.duplicate_rows, found.zero_rows, found.nonfinite_rows) == (0, 0, 0)
    assert found.high.shape == (0, 0)
