"""`embedcli train` against gensim called directly, same settings, same corpus, end to end.

Each run is a fresh interpreter that reads the books, tokenizes them (gensim's simple_preprocess), trains
Word2Vec (CBOW, gensim's defaults) and saves word2vec binary vectors: embedcli through its CLI; gensim
directly through both of its paths (an in-memory list of token lists, and `corpus_file`, which needs the
tokenized text written to a file first). Reported: wall time and words/s as ratios against the faster direct
path, and the word-pair Spearman (wordsim353, simlex999) of each run's vectors.

Usage: python bench/bench_train.py [--quick] [--books N] [--epochs N] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOKS = REPO.parent / "shared" / "data" / "gutenberg-en"

DIRECT = r"""
import sys, os, tempfile
sys.path.insert(0, {repo!r})
from gensim.models import Word2Vec
from embedcli.tokens import simple_preprocess
mode, out, epochs, workers, *files = sys.argv[1:]
sentences = []
for name in files:
    with open(name, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            tokens = simple_preprocess(line)
            if tokens:
                sentences.append(tokens)
kwargs = dict(epochs=int(epochs), workers=int(workers), seed=1)
if mode == "iterable":
    model = Word2Vec(sentences, **kwargs)
else:
    fd, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for tokens in sentences:
            f.write(" ".join(tokens) + "\n")
    del sentences
    model = Word2Vec(corpus_file=path, **kwargs)
    os.unlink(path)
model.wv.save_word2vec_format(out, binary=True)
print(model.corpus_total_words)
"""


def _run(command: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - started


def _spearman(path: str) -> tuple[float, float]:
    import logging

    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.ERROR)
    kv = KeyedVectors.load_word2vec_format(path, binary=True)
    return tuple(float(kv.evaluate_word_pairs(datapath(n))[1][0]) for n in ("wordsim353.tsv", "simlex999.txt"))  # type: ignore[return-value]


def _count_tokens(files: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from embedcli.tokens import simple_preprocess

    total = 0
    for name in files:
        with open(name, encoding="utf-8-sig", errors="replace") as f:
            total += sum(len(simple_preprocess(line)) for line in f)
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two books, one epoch: a smoke test")
    parser.add_argument("--books", type=int, default=None, help="how many Gutenberg books (default: all 15)")
    parser.add_argument("--epochs", type=int, default=None, help="default 5 (gensim's); --quick 1")
    parser.add_argument("--workers", type=int, default=3, help="gensim's default is 3")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant, interleaved; best is kept")
    args = parser.parse_args(argv)
    books = args.books or (2 if args.quick else 15)
    epochs = args.epochs or (1 if args.quick else 5)
    files = [str(p) for p in sorted(BOOKS.glob("*.txt")) if p.name[0].isdigit()][:books]
    tokens = _count_tokens(files)
    print(f"corpus: {len(files)} books, {tokens:,} tokens; Word2Vec CBOW, {epochs} epochs, {args.workers} workers")
    exe = [sys.executable]
    embedcli = [*exe, "-m", "embedcli", "train"]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        script = os.path.join(tmp, "direct.py")
        Path(script).write_text(DIRECT.format(repo=str(REPO)))
        variants = {
            "gensim iterable": lambda out: [*exe, script, "iterable", out, str(epochs), str(args.workers), *files],
            "gensim corpus_file": lambda out: [*exe, script, "file", out, str(epochs), str(args.workers), *files],
        }
        common = ["-q", "--epochs", str(epochs), "--workers", str(args.workers), "--errors", "replace"]
        for mode in ("auto", "iterable", "file"):
            variants[f"embedcli {mode}"] = lambda out, m=mode: [
                *embedcli,
                *files,
                "-o",
                out,
                *common,
                "--corpus-mode",
                m,
            ]
        times: dict[str, float] = {}
        names = list(variants)
        for repeat in range(args.repeat):
            # Rotate the order each round, so no variant always runs first (or last) on a busy machine.
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                command = variants[name]
                out = os.path.join(tmp, name.replace(" ", "-") + ".bin")
                seconds = _run(command(out))
                times[name] = min(times.get(name, float("inf")), seconds)
        scores = {name: _spearman(os.path.join(tmp, name.replace(" ", "-") + ".bin")) for name in variants}
    best_direct = min(times["gensim iterable"], times["gensim corpus_file"])
    print(f"{'variant':<20} {'wall s':>8} {'words/s':>12} {'time ratio':>11} {'wordsim ρ':>10} {'simlex ρ':>9}")
    for name, seconds in times.items():
        rate = tokens * epochs / seconds
        ws, sl = scores[name]
        print(f"{name:<20} {seconds:>8.1f} {rate:>12,.0f} {seconds / best_direct:>10.2f}x {ws:>10.3f} {sl:>9.3f}")
    ours = times["embedcli auto"]
    direct_name = min(("gensim iterable", "gensim corpus_file"), key=times.__getitem__)
    delta = scores["embedcli auto"][0] - scores[direct_name][0]
    print(
        f"embedcli (auto) / fastest direct ({direct_name}): time {ours / best_direct:.2f}x, "
        f"words/s {best_direct / ours:.2f}x; wordsim353 Spearman difference {delta:+.3f}"
    )
    sys.path.insert(0, str(REPO))
    from embedcli.train.fit import choose_corpus_mode
    from embedcli.train.settings import TrainSettings

    auto_path = choose_corpus_mode(TrainSettings(workers=args.workers).resolved()).value
    same = "gensim corpus_file" if auto_path == "file" else "gensim iterable"
    ws, sl = (a - b for a, b in zip(scores["embedcli auto"], scores[same], strict=True))
    print(
        f"embedcli auto took gensim's {auto_path} path; Spearman difference against {same}: "
        f"wordsim353 {ws:+.3f}, simlex999 {sl:+.3f}"
    )
    for mode, direct in (("iterable", "gensim iterable"), ("file", "gensim corpus_file")):
        print(f"same path, embedcli {mode} / {direct}: time {times[f'embedcli {mode}'] / times[direct]:.2f}x")


if __name__ == "__main__":
    main()
