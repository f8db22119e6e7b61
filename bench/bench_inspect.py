"""inspect: the whole report on a memory-mapped NPY against the exact kNN graph of the same file, in one run.

Corpus: N x 384 float32 (default 1,000,000; --quick 100,000), random points around 1,000 centres, written to a
temporary NPY (or --data PATH, kept) and opened memory-mapped; the page cache is warm for both sides. Sides:
  inspect   embedcli.inspect.report.inspect_vectors(cosine, sample 5,000): every row read once (norms, duplicates,
            axis ends), the rest on the sample; the one-pass scan is also timed alone.
  kNN graph every row's k = 10 exact cosine neighbours by embedcli's own blocked exact search over the
            memory-mapped file (search.top_k, self excluded): the work `embedcli similar FILE` (no query) does for
            a full graph. A full graph over a million rows takes hours here, so the graph is timed on --graph-rows
            query rows and extrapolated linearly to N (each query row costs the same: it scores every corpus row).
Target: inspect < 1/10 of the graph time. The machine has 2 cores shared with other work: figures are noisy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 1234


def write_corpus(path: Path, rows: int, dim: int, centres: int = 1000, block: int = 65_536) -> None:
    """A clustered float32 NPY written block by block (the whole matrix never sits in memory twice)."""
    rng = np.random.default_rng(SEED)
    middle = rng.standard_normal((centres, dim), dtype=np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, block):
        count = min(block, rows - start)
        noise = rng.standard_normal((count, dim), dtype=np.float32)
        noise *= np.float32(0.6)
        out[start : start + count] = middle[rng.integers(0, centres, count)] + noise
    out.flush()
    del out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 512 graph rows timed")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--graph-rows", type=int, default=1024, help="query rows of the graph actually timed")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--data", type=Path, help="NPY to use (written first if missing, then kept)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.graph_rows = 100_000, 512
    from embedcli.inspect.report import inspect_vectors
    from embedcli.inspect.scan import scan
    from embedcli.metrics import Metric, prepare
    from embedcli.search import knn_graph
    from embedcli.search.top_k import SearchCorpus, search

    with tempfile.TemporaryDirectory() as tmp:
        path = args.data or Path(tmp) / "corpus.npy"
        if not path.exists():
            started = time.perf_counter()
            write_corpus(path, args.rows, args.dim)
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
        vectors = np.load(path, mmap_mode="r")
        rows, dim = vectors.shape

        started = time.perf_counter()
        report = inspect_vectors(vectors, metric=Metric.cosine, sample=args.sample, seed=0, knn=knn_graph)
        inspect_s = time.perf_counter() - started
        started = time.perf_counter()
        scan(vectors)
        scan_s = time.perf_counter() - started

        # The kNN graph as `embedcli similar CORPUS` (no query) computes it: every row against the memory-mapped
        # corpus by the blocked exact search, self excluded; `timed` rows are timed and the rest extrapolated.
        timed = min(args.graph_rows, rows)
        started = time.perf_counter()
        corpus = SearchCorpus(vectors, Metric.cosine)
        queries = prepare(Metric.cosine, np.asarray(vectors[:timed], dtype=np.float32))
        own = np.arange(timed, dtype=np.int64)
        for _ in search(queries, corpus, args.k, exclude=(own, own)):
            pass
        per_row = (time.perf_counter() - started) / timed
    graph_s = per_row * rows
    results = {
        "inspect_s": inspect_s,
        "scan_s": scan_s,
        "graph_s_extrapolated": graph_s,
        "inspect_over_graph": inspect_s / graph_s,
    }
    print(f"inspect {rows:,} x {dim} float32 NPY (memory-mapped, warm page cache), cosine, sample {args.sample:,}")
    print(f"{'side':<34} {'seconds':>10}")
    print(f"{'inspect_vectors (whole report)':<34} {inspect_s:>10.2f}")
    print(f"{'  of which: one pass over all rows':<34} {scan_s:>10.2f}   (timed alone, after)")
    print(f"{'kNN graph, embedcli similar':<34} {graph_s:>10.0f}   ({timed:,} rows timed, x {rows / timed:,.0f})")
    print(f"inspect / graph: {inspect_s / graph_s:.5f} (target < 0.1); verdicts:")
    for verdict in report.verdicts:
        print(f"  [{verdict.level.value}] {verdict.text}")
    return results


if __name__ == "__main__":
    main()
