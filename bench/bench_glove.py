"""embedcli's GloVe against the Stanford C tool (stanfordnlp/GloVe), same tokens, same settings, side by side.

The books are tokenized once like `embedcli train --tokenizer simple` (one token list per line) and written to
a text file for the C tool. Then one after the other: build_vocabulary + count_cooccurrences and train_glove,
and the C tool's vocab_count + cooccur + shuffle and glove. Reported: wall and CPU seconds of counting and
of training, the ratio to the C tool, and WordSim-353 / SimLex-999 Spearman and analogy accuracy (gensim's
evaluators) of both vector files. numba's one-time compilation is timed apart (it is cached afterwards).

The C tool is not installed by anything: build it (`make` in a checkout of stanfordnlp/GloVe) and pass
`--c-tool DIR` (the folder holding vocab_count, cooccur, shuffle, glove). Without it only embedcli runs, and its
figures are printed beside those measured with the C tool when the issue was filed.
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
    from embedcli.tokenize import simple_preprocess

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
    lines = _tokenize(files)
    print(f"corpus: {len(files)} books, {sum(map(len, lines)):,} tokens in {len(lines):,} lines; min count "
          f"{args.min_count}, window {args.window}, dim {args.dim}, x_max {args.x_max}, {args.epochs} epochs, "
          f"{args.threads} threads")  # fmt: skip
    print(f"numba compilation (first run only; cached afterwards): {_warm_up():.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench-glove-") as tmp:
        ours = _run_ours(lines, tmp, args)
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
