"""embedcli's GloVe against the Stanford C tool (stanfordnlp/GloVe), same tokens, same settings, side by side.

The books are tokenized once like `embedcli train --tokenizer simple` (one token list per line) and written to
a text file for the C tool. Then one after the other: build_vocabulary + count_cooccurrences and train_glove,
and the C tool's vocab_count + cooccur + shuffle and glove. Reported: wall and CPU seconds of counting and
of training, the ratio to the C tool, and WordSim-353 / SimLex-999 Spearman and analogy accuracy (gensim's
evaluators) of both vector files. numba's one-time compilation is timed apart (it is cached afterwards).

The C tool is not installed by anything: build it (`make` in a checkout of stanfordnlp/GloVe) and pass
`--c-tool DIR` (the folder holding vocab_count, cooccur, shuffle, glove). Without it only embedcli runs, and its
figures are printed beside those measured with the C tool when the issue was filed.
A third row runs the same settings through `embedcli train --algorithm glove` in a fresh process, end to end.
The machine this ran on is shared (2 cores, other jobs running): wall times are noisy, CPU times less so.

Usage: python bench/bench_glove.py [--quick] [--c-tool DIR] [--epochs N] [--threads N] [--books N]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOKS = REPO.parent / "shared" / "data" / "gutenberg-en"  # from /work/main; a worktree passes --books-dir
# The C tool on the 15 books, 15 iterations, 2 threads, as measured when the issue was filed (issue 20).
FILED = {"count s": 2.4 + 1.4, "train s": 109.0, "wordsim": 0.226, "simlex": 0.077, "analogy": 0.073}


def _tokenize(files: list[str]) -> list[list[str]]:
    sys.path.insert(0, str(REPO))
    from embedcli.tokens import simple_preprocess

    lines = []
    for name in files:
        with open(name, encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                tokens = simple_preprocess(line)
                if tokens:
                    lines.append(tokens)
    return lines


class _Clock:
    """Wall and CPU seconds of a block: of this process (threads included) and of the children it waited for."""

    def __enter__(self) -> _Clock:
        self.wall = time.perf_counter()
        self.cpu = self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _c_tool(tool: Path, step: str, args: list[str], stdin: str, stdout: str) -> str:
    with open(stdin, "rb") as source, open(stdout, "wb") as sink:
        proc = subprocess.run([str(tool / step), *args], stdin=source, stdout=sink, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed: {proc.stderr.decode(errors='replace')[-1000:]}")
    return proc.stderr.decode(errors="replace")


def _run_c(tool: Path, tmp: str, corpus: str, args: argparse.Namespace) -> dict[str, float]:
    vocab, cooc, shuf = (os.path.join(tmp, n) for n in ("vocab.txt", "cooc.bin", "cooc.shuf.bin"))
    with _Clock() as count:
        _c_tool(tool, "vocab_count", ["-min-count", str(args.min_count), "-verbose", "0"], corpus, vocab)
        _c_tool(tool, "cooccur", ["-vocab-file", vocab, "-window-size", str(args.window), "-memory", "2",
                                  "-verbose", "0"], corpus, cooc)  # fmt: skip
        _c_tool(tool, "shuffle", ["-memory", "2", "-verbose", "0", "-seed", "1"], cooc, shuf)
    out = os.path.join(tmp, "c-vectors")
    glove = ["-input-file", shuf, "-vocab-file", vocab, "-save-file", out, "-threads", str(args.threads),
             "-iter", str(args.epochs), "-vector-size", str(args.dim), "-x-max", str(args.x_max), "-binary", "0",
             "-seed", "1", "-verbose", "2"]  # fmt: skip
    with _Clock() as train:
        log = _c_tool(tool, "glove", glove, os.devnull, os.devnull)
    costs = [line.rsplit("cost: ", 1)[1] for line in log.splitlines() if "cost: " in line]
    print(f"  C tool: {os.path.getsize(cooc) // 16:,} records; cost per record by iteration: {', '.join(costs)}")
    return {"count s": count.wall, "count cpu": count.cpu, "train s": train.wall, "train cpu": train.cpu,
            **_quality(out + ".txt")}  # fmt: skip


def _run_ours(lines: list[list[str]], tmp: str, args: argparse.Namespace) -> dict[str, float]:
    from embedcli.train.glove import (
        GloveSettings,
        build_vocabulary,
        count_cooccurrences,
        train_glove,
        write_glove_text,
    )

    with _Clock() as count:
        vocabulary = build_vocabulary(lines, min_count=args.min_count)
        matrix = count_cooccurrences(lines, vocabulary, window=args.window)
    settings = GloveSettings(dim=args.dim, epochs=args.epochs, x_max=args.x_max, workers=args.threads, seed=1)
    costs: list[str] = []
    with _Clock() as train:
        vectors = train_glove(matrix, settings, on_epoch=lambda _, cost: costs.append(f"{cost:.6f}"))
    print(f"  embedcli: {len(matrix):,} records, {len(vocabulary):,} words; cost per record: {', '.join(costs)}")
    out = os.path.join(tmp, "ours.txt")
    with open(out, "w", encoding="utf-8") as f:
        write_glove_text(vocabulary.words, vectors, f)
    return {"count s": count.wall, "count cpu": count.cpu, "train s": train.wall, "train cpu": train.cpu,
            **_quality(out)}  # fmt: skip


def _warm_up() -> float:
    """Compile (or load from numba's cache) the kernels on a toy corpus; returns the seconds it took."""
    from embedcli.train.glove import GloveSettings, build_vocabulary, count_cooccurrences, train_glove

    started = time.perf_counter()
    toy = [["a", "b", "c", "a"], ["b", "c"]]
    train_glove(count_cooccurrences(toy, build_vocabulary(toy, min_count=1)), GloveSettings(dim=4, epochs=1))
    return time.perf_counter() - started


def _kernel_rates(matrix, dim: int, records: int = 300_000) -> None:  # type: ignore[no-untyped-def]
    """Records per second of one thread on `records` shuffled records: the numba kernel, the same per-record
    AdaGrad in plain numpy (Python loop), and a torch mini-batch AdaGrad (gather, step, index_add_)."""
    import numpy as np
    import torch

    from embedcli.train.glove._kernels import train_span

    rng = np.random.default_rng(0)
    pick = rng.permutation(len(matrix))[:records]
    rows, cols = matrix.rows[pick], matrix.cols[pick]
    log_x = np.log(matrix.values[pick]).astype(np.float32)
    f_x = np.minimum(1.0, (matrix.values[pick] / 10.0) ** 0.75).astype(np.float32)
    size = len(matrix.vocabulary)

    def fresh() -> list[np.ndarray]:
        w = ((rng.random((2, size, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        b = ((rng.random((2, size), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        return [w[0], w[1], b[0], b[1], np.ones((size, dim), np.float32), np.ones((size, dim), np.float32),
                np.ones(size, np.float32), np.ones(size, np.float32)]  # fmt: skip

    eta, clip = np.float32(0.05), np.float32(100.0)
    started = time.perf_counter()
    train_span(*fresh(), rows, cols, log_x, f_x, 0, records, eta, clip)  # type: ignore[call-arg]
    numba_rate = records / (time.perf_counter() - started)

    w, c, bw, bc, gw, gc, gbw, gbc = fresh()
    few = 3000
    started = time.perf_counter()
    for r in range(few):
        i, j = rows[r], cols[r]
        diff = w[i] @ c[j] + bw[i] + bc[j] - log_x[r]
        fdiff = f_x[r] * diff
        t1, t2 = np.clip(fdiff * c[j], -clip, clip) * eta, np.clip(fdiff * w[i], -clip, clip) * eta
        w[i] -= t1 / np.sqrt(gw[i])
        c[j] -= t2 / np.sqrt(gc[j])
        gw[i] += t1 * t1
        gc[j] += t2 * t2
        bw[i] -= fdiff / np.sqrt(gbw[i])
        bc[j] -= fdiff / np.sqrt(gbc[j])
        gbw[i] += fdiff * fdiff
        gbc[j] += fdiff * fdiff
    numpy_rate = few / (time.perf_counter() - started)

    torch.set_num_threads(1)
    t_w, t_c, t_bw, t_bc, t_gw, t_gc, t_gbw, t_gbc = (torch.from_numpy(a) for a in fresh())
    ti, tj = torch.from_numpy(rows.astype(np.int64)), torch.from_numpy(cols.astype(np.int64))
    tlog, tf = torch.from_numpy(log_x), torch.from_numpy(f_x)
    batch = 1024
    started = time.perf_counter()
    for s in range(0, records, batch):
        i, j = ti[s : s + batch], tj[s : s + batch]
        wi, cj = t_w[i], t_c[j]
        fdiff = tf[s : s + batch] * ((wi * cj).sum(1) + t_bw[i] + t_bc[j] - tlog[s : s + batch])
        t1 = (fdiff[:, None] * cj).clamp(-100, 100) * 0.05
        t2 = (fdiff[:, None] * wi).clamp(-100, 100) * 0.05
        t_w.index_add_(0, i, -t1 / t_gw[i].sqrt())
        t_c.index_add_(0, j, -t2 / t_gc[j].sqrt())
        t_gw.index_add_(0, i, t1 * t1)
        t_gc.index_add_(0, j, t2 * t2)
        t_bw.index_add_(0, i, -fdiff / t_gbw[i].sqrt())
        t_bc.index_add_(0, j, -fdiff / t_gbc[j].sqrt())
        t_gbw.index_add_(0, i, fdiff * fdiff)
        t_gbc.index_add_(0, j, fdiff * fdiff)
    torch_rate = records / (time.perf_counter() - started)
    print(f"one thread, records/s: numba per-record {numba_rate:,.0f}; numpy per-record {numpy_rate:,.0f} "
          f"({numba_rate / numpy_rate:.0f}x slower); torch mini-batch of {batch} {torch_rate:,.0f} "
          f"({numba_rate / torch_rate:.1f}x slower; its in-batch steps are stale: not glove.c's update)")  # fmt: skip


def _run_cli(files: list[str], tmp: str, args: argparse.Namespace) -> dict[str, float]:
    """The same run through `embedcli train --algorithm glove`, end to end in a fresh process (imports, reading,
    tokenizing, counting, training, writing the GloVe text file)."""
    out = os.path.join(tmp, "cli.txt")
    command = [
        sys.executable, "-m", "embedcli", "train", *files, "--algorithm", "glove", "--dim", str(args.dim),
        "--window", str(args.window), "--x-max", str(args.x_max), "--epochs", str(args.epochs),
        "--min-count", str(args.min_count), "--workers", str(args.threads), "-o", out,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    with _Clock() as run:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"embedcli train failed: {proc.stderr.strip()}")
    print(f"  embedcli train: {proc.stderr.strip().splitlines()[-1]}")
    return {"wall s": run.wall, "cpu s": run.cpu, **_quality(out)}


def _quality(path: str) -> dict[str, float]:
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.ERROR)
    kv = KeyedVectors.load_word2vec_format(path, binary=False, no_header=True)
    return {
        "wordsim": float(kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]),
        "simlex": float(kv.evaluate_word_pairs(datapath("simlex999.txt"))[1][0]),
        "analogy": float(kv.evaluate_word_analogies(datapath("questions-words.txt"))[0]),
    }


def _report(ours: dict[str, float], theirs: dict[str, float], label: str) -> None:
    print(f"{'':<10} {'count s':>8} {'count cpu':>9} {'train s':>8} {'train cpu':>9} {'wordsim':>8} "
          f"{'simlex':>7} {'analogy':>8}")  # fmt: skip
    for name, row in (("embedcli", ours), (label, theirs)):
        cells = [f"{row[k]:>8.1f}" if k in row else f"{'-':>8}" for k in ("count s",)]
        cells += [f"{row[k]:>9.1f}" if k in row else f"{'-':>9}" for k in ("count cpu",)]
        cells += [f"{row[k]:>8.1f}" if k in row else f"{'-':>8}" for k in ("train s",)]
        cells += [f"{row[k]:>9.1f}" if k in row else f"{'-':>9}" for k in ("train cpu",)]
        print(f"{name:<10} {' '.join(cells)} {row['wordsim']:>8.3f} {row['simlex']:>7.3f} {row['analogy']:>7.1%}")
    ratios = [
        f"{k} {ours[k] / theirs[k]:.2f}x" for k in ("count s", "count cpu", "train s", "train cpu") if k in theirs
    ]
    print(f"embedcli / {label}: {', '.join(ratios)}; total wall "
          f"{(ours['count s'] + ours['train s']) / (theirs['count s'] + theirs['train s']):.2f}x")  # fmt: skip
    print(f"quality, embedcli − {label}: wordsim {ours['wordsim'] - theirs['wordsim']:+.3f}, "
          f"simlex {ours['simlex'] - theirs['simlex']:+.3f}, "
          f"analogy {100 * (ours['analogy'] - theirs['analogy']):+.1f} points")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two books, two iterations: a smoke test")
    parser.add_argument("--c-tool", type=Path, default=None, help="folder with the C tool's built binaries")
    parser.add_argument("--books", type=int, default=None, help="how many Gutenberg books (default: all 15)")
    parser.add_argument("--books-dir", type=Path, default=BOOKS, help=f"default {BOOKS}")
    parser.add_argument("--epochs", type=int, default=None, help="default 15; --quick 2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kernels", action="store_true", help="also time numba, numpy and torch kernels")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=15)
    parser.add_argument("--x-max", type=float, default=10.0)
    parser.add_argument("--min-count", type=int, default=5)
    args = parser.parse_args(argv)
    books = args.books or (2 if args.quick else 15)
    args.epochs = args.epochs or (2 if args.quick else 15)
    files = [str(p) for p in sorted(args.books_dir.glob("*.txt")) if p.name[0].isdigit()][:books]
    if not files:
        parser.error(f"no books in {args.books_dir}")
    with _Clock() as reading:
        lines = _tokenize(files)
    print(f"corpus: {len(files)} books, {sum(map(len, lines)):,} tokens in {len(lines):,} lines; min count "
          f"{args.min_count}, window {args.window}, dim {args.dim}, x_max {args.x_max}, {args.epochs} epochs, "
          f"{args.threads} threads")  # fmt: skip
    print(f"numba import and compilation (or, after the first run, its cache): {_warm_up():.1f} s")
    if args.kernels:
        from embedcli.train.glove import build_vocabulary, count_cooccurrences

        _kernel_rates(count_cooccurrences(lines, build_vocabulary(lines, args.min_count), args.window), args.dim)
    with tempfile.TemporaryDirectory(prefix="bench-glove-") as tmp:
        ours = _run_ours(lines, tmp, args)
        cli = _run_cli(files, tmp, args)
        library = reading.wall + ours["count s"] + ours["train s"]
        print(f"end to end: `embedcli train --algorithm glove` {cli['wall s']:.1f} s wall ({cli['cpu s']:.1f} s CPU) "
              f"vs the library called directly {library:.1f} s (tokenize {reading.wall:.1f} + count "
              f"{ours['count s']:.1f} + train {ours['train s']:.1f}): {cli['wall s'] / library:.2f}x; quality "
              f"wordsim {cli['wordsim']:.3f}, simlex {cli['simlex']:.3f}, analogy {cli['analogy']:.1%}")  # fmt: skip
        if args.c_tool is None:
            print("no --c-tool: compared with the C tool's figures from issue 20 (15 books, 15 iterations)")
            _report(ours, FILED, "C (filed)")
            return
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.writelines(" ".join(tokens) + "\n" for tokens in lines)
        theirs = _run_c(args.c_tool, tmp, corpus, args)
    _report(ours, theirs, "C tool")


if __name__ == "__main__":
    main()
