"""PCA to 50 dimensions: embedcli's exact streaming PCA against scikit-learn's PCA and IncrementalPCA called directly.

The data are float32 vectors with embedding-like structure (a decaying spectrum around a non-zero mean). Times
are the best of a few runs; ratios are against scikit-learn's `svd_solver="covariance_eigh"`, the fastest exact
solver, which holds the whole matrix. "peak MiB" is the largest traced allocation beyond the input (tracemalloc
sees numpy's buffers, not BLAS scratch space nor pyarrow's pool). "stream" rows read the vectors from an Arrow
file (memory-mapped) or a Parquet file, one 16,384-row batch at a time.

    .venv/bin/python bench/bench_reduce.py            # 200,000 x 384
    .venv/bin/python bench/bench_reduce.py --quick    # 20,000 x 384, a smoke test
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.reduce.methods import fit_reducer
from embedcli.reduce.settings import ReduceMethod, ReduceSettings

BLOCK_ROWS = 16_384


def make_vectors(rows: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = (1.0 / np.arange(1, width + 1) ** 0.7).astype(np.float32)
    basis, _ = np.linalg.qr(rng.standard_normal((width, width)))
    x = (rng.standard_normal((rows, width), dtype=np.float32) * scales) @ basis.astype(np.float32).T
    return x + rng.normal(0.3, 0.1, width).astype(np.float32)


def traced(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time, peak traced MiB and result of one run."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def timed(run: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def write_table(x: np.ndarray, path: Path) -> None:
    from embedcli.formats import output_format_for
    from embedcli.formats.outputs import open_vector_writer
    from embedcli.records import EmbeddedBatch

    fmt = output_format_for(str(path))
    with open_vector_writer(str(path), fmt, {"model": "bench"}, keep_text=False) as writer:
        for start in range(0, len(x), BLOCK_ROWS):
            ids = [str(i) for i in range(start, min(start + BLOCK_ROWS, len(x)))]
            writer.write(EmbeddedBatch(ids, [""] * len(ids), x[start : start + BLOCK_ROWS]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 200_000)
    repeats = 1 if args.quick else args.repeats
    from sklearn.decomposition import PCA, IncrementalPCA

    from embedcli.formats.vector_batches import VectorBatches

    x = make_vectors(rows, args.width)
    settings = ReduceSettings(ReduceMethod.pca, args.dim)

    def ours() -> Any:
        blocks = (x[i : i + BLOCK_ROWS] for i in range(0, rows, BLOCK_ROWS))
        return fit_reducer(blocks, args.width, settings, BLOCK_ROWS).reducer

    with tempfile.TemporaryDirectory() as tmp:
        parquet, arrow = Path(tmp) / "vectors.parquet", Path(tmp) / "vectors.arrow"
        write_table(x, parquet)
        write_table(x, arrow)

        def streamed(path: Path) -> Callable[[], Any]:
            def run() -> Any:
                with VectorBatches(str(path)) as data:
                    blocks = (b.vectors for b in data.batches(BLOCK_ROWS, vectors_only=True))
                    return fit_reducer(blocks, data.width, settings, BLOCK_ROWS).reducer

            return run

        fast: list[tuple[str, Callable[[], Any]]] = [
            ("sklearn PCA covariance_eigh", lambda: PCA(args.dim, svd_solver="covariance_eigh").fit(x)),
            ("embedcli pca (in memory)", ours),
            ("embedcli pca (stream Arrow file)", streamed(arrow)),
            ("embedcli pca (stream Parquet)", streamed(parquet)),
        ]
        slow: list[tuple[str, Callable[[], Any]]] = [
            ("sklearn PCA randomized", lambda: PCA(args.dim, svd_solver="randomized", random_state=0).fit(x)),
            ("sklearn PCA full", lambda: PCA(args.dim, svd_solver="full").fit(x)),
            ("sklearn IncrementalPCA", lambda: IncrementalPCA(args.dim).fit(x)),
        ]
        results = [[name, *traced(run)] for name, run in fast + slow]
        # The machine may be shared: interleave the repeats of the fast cases and keep each one's best.
        for _ in range(repeats):
            for i, (_, run) in enumerate(fast):
                results[i][1] = min(results[i][1], timed(run))
    base = results[0][1]
    reference = results[0][3].explained_variance_ratio_
    print(f"PCA to {args.dim} dims of {rows:,} x {args.width} float32 (input {x.nbytes / 2**20:,.0f} MiB)")
    print(f"{'method':32} {'seconds':>8} {'ratio':>7} {'peak MiB':>9} {'max |Δ evr|':>12}")
    for name, seconds, peak, model in results:
        ratio = getattr(model, "explained_variance_ratio_", getattr(model, "explained_variance_ratio", None))
        delta = float(np.abs(np.asarray(ratio) - reference).max()) if ratio is not None else float("nan")
        print(f"{name:32} {seconds:8.2f} {seconds / base:6.2f}x {peak:9.1f} {delta:12.1e}")


if __name__ == "__main__":
    main()
