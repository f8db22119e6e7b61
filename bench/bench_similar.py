"""similar: exact top-k search as queries/s, embedcli against numpy, torch and faiss called directly, in one run.

Corpus: N x 384 float32 (random, unit rows, so inner product = cosine), Q queries, k = 10. Each side answers the
same queries on the same vectors; corpus preparation (normalising, building the faiss index) is outside the timing
for every side. Peers:
  numpy   one full (Q, N) matmul, argpartition, then sort of the k kept
  torch   one full matmul + torch.topk
  faiss   IndexFlatIP.search (exact; install faiss-cpu)
and, as the ceiling rather than a peer, the float32 matmul alone (every score computed, none selected).
The CLI is timed end to end (start-up, reading an NPY corpus and NPY queries, writing JSONL hits).
Peak memory: the search function's extra memory (tracemalloc) and the CLI's peak RSS, both as multiples of the
corpus size. Target: >= 1.5x the best peer's queries/s, peak memory < 1.5x the corpus.
Few queries over a large NPY (--rss-rows x --rss-dim, default 700,000 x 384 = 1 GiB, the size issue 17 measured):
the CLI's peak RSS with 1 and 10 queries, per metric, as a multiple of the corpus size. Target: < 0.6x for any
number of queries (issue 17).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = 1234
CEILING = "matmul only"  # every score, no top-k: what no exact float32 search can beat


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _timed(run: Callable[[], object], rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _embedcli(corpus: np.ndarray, queries: np.ndarray, k: int) -> Callable[[], np.ndarray]:
    from embedcli.metrics import Metric, prepare
    from embedcli.search.top_k import SearchCorpus, search

    prepared = SearchCorpus(corpus.copy(), Metric.cosine, owned=True)

    def run() -> np.ndarray:
        return np.stack([h.rows for h in search(prepare(Metric.cosine, queries), prepared, k)])

    return run


def _numpy(corpus: np.ndarray, queries: np.ndarray, k: int) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        scores = queries @ corpus.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        return np.take_along_axis(top, order, 1)

    return run


def _torch(corpus: np.ndarray, queries: np.ndarray, k: int) -> Callable[[], np.ndarray] | None:
    try:
        import torch
    except ImportError:
        return None
    c, q = torch.from_numpy(corpus), torch.from_numpy(queries)

    def run() -> np.ndarray:
        return torch.topk(q @ c.T, k, dim=1).indices.numpy()

    return run


def _faiss(corpus: np.ndarray, queries: np.ndarray, k: int) -> Callable[[], np.ndarray] | None:
    try:
        import faiss
    except ImportError:
        return None
    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(corpus)

    def run() -> np.ndarray:
        return index.search(queries, k)[1]

    return run


def _matmul_only(corpus: np.ndarray, queries: np.ndarray, k: int) -> Callable[[], None]:
    """The ceiling, not a peer: every score computed (float32 matmul, 8,192-row blocks), none selected."""
    rows = 8192
    out = np.empty((len(queries), rows), np.float32)

    def run() -> None:
        for start in range(0, len(corpus), rows):
            block = corpus[start : start + rows]
            np.matmul(queries, block.T, out=out[:, : len(block)])

    return run


def _extra_memory(run: Callable[[], object]) -> int:
    """Peak bytes allocated while `run` searches (the prepared corpus already exists)."""
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _cli(corpus: np.ndarray, queries: np.ndarray, k: int, rounds: int) -> tuple[float, int]:
    """Median wall seconds of `embedcli similar corpus.npy --queries queries.npy -k K -o hits.jsonl`, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "corpus.npy", corpus)
        np.save(Path(tmp) / "queries.npy", queries)
        cmd = [sys.executable, "-m", "embedcli", "similar", str(Path(tmp) / "corpus.npy")]
        cmd += ["--queries", str(Path(tmp) / "queries.npy"), "-k", str(k), "-o", str(Path(tmp) / "hits.jsonl"), "-q"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        seconds, _ = _timed(lambda: subprocess.run(cmd, check=True, env=env, cwd=REPO), rounds)
        # Peak RSS from a small parent: a child forked from this process would count this process's pages.
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *cmd], check=True, env=env, cwd=REPO, capture_output=True
        )
    return seconds, int(done.stdout) * 1024


def _few_queries_rss(rows: int, dim: int, metrics: list[str]) -> dict[str, float]:
    """Peak RSS of `embedcli similar corpus.npy --queries q.npy` with 1 and 10 queries, as multiples of the corpus.

    The corpus is written once as an NPY (which the CLI memory-maps); the baseline row is the same CLI over a
    1-row corpus, so start-up (Python, numpy, pyarrow) can be told apart from what the corpus costs.
    """
    rng = np.random.default_rng(SEED)
    results: dict[str, float] = {}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path, corpus_bytes = Path(tmp) / "corpus.npy", rows * dim * 4
        out = np.lib.format.open_memmap(corpus_path, mode="w+", dtype=np.float32, shape=(rows, dim))
        for start in range(0, rows, 65_536):  # written in slices: the bench itself never holds the corpus
            out[start : start + 65_536] = rng.standard_normal((min(65_536, rows - start), dim), dtype=np.float32)
        out.flush()
        del out
        np.save(Path(tmp) / "tiny.npy", rng.standard_normal((1, dim), dtype=np.float32))
        for count in (1, 10):
            np.save(Path(tmp) / f"q{count}.npy", rng.standard_normal((count, dim), dtype=np.float32))
        for metric in metrics:
            for corpus, count in [("tiny", 1), ("corpus", 1), ("corpus", 10)]:
                cmd = [sys.executable, "-m", "embedcli", "similar", str(Path(tmp) / f"{corpus}.npy"), "-q"]
                cmd += ["--queries", str(Path(tmp) / f"q{count}.npy"), "-k", "10", "--metric", metric]
                cmd += ["-o", str(Path(tmp) / "hits.jsonl")]
                done = subprocess.run(
                    [sys.executable, "-c", PEAK_RSS, *cmd], check=True, env=env, cwd=REPO, capture_output=True
                )
                name = f"rss_{metric}_{'baseline' if corpus == 'tiny' else f'{count}q'}_x_corpus"
                results[name] = int(done.stdout) * 1024 / corpus_bytes
    return results


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 x 384 corpus, 200 queries, 1 round")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI timing")
    parser.add_argument("--rss-rows", type=int, default=700_000, help="rows of the few-queries peak-RSS corpus")
    parser.add_argument("--rss-dim", type=int, default=384)
    parser.add_argument("--rss-metrics", default="cosine,euclidean,manhattan", help="comma-separated")
    parser.add_argument("--rss-only", action="store_true", help="only the few-queries peak-RSS measurement")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.queries, args.rounds, args.rss_rows = 20_000, 200, 1, 100_000
    few = _few_queries_rss(args.rss_rows, args.rss_dim, args.rss_metrics.split(","))
    corpus_mib = args.rss_rows * args.rss_dim * 4 / 2**20
    print(f"CLI peak RSS, few queries over {args.rss_rows:,} x {args.rss_dim} NPY ({corpus_mib:,.0f} MiB), x corpus:")
    for metric in args.rss_metrics.split(","):
        figures = [few[f"rss_{metric}_{case}_x_corpus"] for case in ("baseline", "1q", "10q")]
        print(f"  {metric:<10} start-up {figures[0]:.2f}x   1 query {figures[1]:.2f}x   10 queries {figures[2]:.2f}x")
    if args.rss_only:
        return few
    rng = np.random.default_rng(SEED)
    corpus = _unit(rng.standard_normal((args.rows, args.dim), dtype=np.float32))
    queries = _unit(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
    corpus_bytes = corpus.nbytes

    sides = {"embedcli": _embedcli, "numpy": _numpy, "torch": _torch, "faiss": _faiss, CEILING: _matmul_only}
    runs: dict[str, Callable[[], object]] = {}
    for name, make in sides.items():
        run = make(corpus, queries, args.k)
        if run is None:
            print(f"{name:<10} not installed: skipped")
        else:
            runs[name] = run
    # Rounds go round-robin over the sides, so load from other work on the machine hits every side alike.
    times: dict[str, list[float]] = {name: [] for name in runs}
    found: dict[str, object] = {name: run() for name, run in runs.items()}  # warm-up, and the answers
    for _ in range(args.rounds):
        for name, side in runs.items():
            times[name].append(_timed(side, 1)[0])
    rates = {name: args.queries / statistics.median(t) for name, t in times.items()}
    reference = found["embedcli"]
    for name, answer in found.items():
        if name == CEILING:
            continue
        agree = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(reference, answer, strict=True)])  # type: ignore[call-overload]
        assert agree > 0.999, f"{name} disagrees with embedcli: {agree:.4f}"
    del runs, found
    extra = _extra_memory(_embedcli(corpus, queries, args.k))
    results = {f"{name}_qps": rate for name, rate in rates.items()} | few
    best_peer = max((r for n, r in rates.items() if n not in ("embedcli", CEILING)), default=float("nan"))
    results["speedup_vs_best_peer"] = rates["embedcli"] / best_peer
    results["search_extra_memory_x_corpus"] = extra / corpus_bytes
    if not args.no_cli:
        seconds, rss = _cli(corpus, queries, args.k, args.rounds)
        results["cli_qps"] = args.queries / seconds
        results["cli_peak_rss_x_corpus"] = rss / corpus_bytes

    print(f"search {args.rows:,} x {args.dim} float32, {args.queries:,} queries, k={args.k}, median of {args.rounds}")
    print(f"{'side':<12} {'queries/s':>10} {'vs embedcli':>12}")
    for name, rate in rates.items():
        print(f"{name:<12} {rate:>10,.0f} {rates['embedcli'] / rate:>11.2f}x")
    if "cli_qps" in results:
        print(f"{'CLI e2e':<12} {results['cli_qps']:>10,.0f}   (start-up, NPY read and JSONL write included)")
        print(f"CLI peak RSS: {results['cli_peak_rss_x_corpus']:.2f}x the corpus ({corpus_bytes / 2**20:,.0f} MiB)")
    print(f"search function extra memory: {results['search_extra_memory_x_corpus']:.2f}x the corpus")
    print(f"embedcli vs best peer: {results['speedup_vs_best_peer']:.2f}x (target >= 1.5x)")
    return results


if __name__ == "__main__":
    main()
