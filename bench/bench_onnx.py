"""onnx: the torch-free ONNX backend (fp32 and dynamic int8) against sentence-transformers, measured side by side.

Three measurements, each alternating the contenders round by round and reporting medians (the machine is shared,
so single timings are noisy: read the ratios):

1. In-process throughput, sentences/s, on the STS-B test sentences (short, ~14 tokens) and on longer sentences
   from a Gutenberg novel (~30 tokens): SentenceTransformer.encode vs the onnx encoder, fp32 and int8.
2. End to end, start-up included, on the STS-B test sentences, with STS-B Spearman from the written vectors:
   sentence-transformers called directly, `embedcli embed` with sentence-transformers, onnx fp32, onnx int8.
3. Time from process start to the first vector: `embedcli embed -t "..." --format jsonl` per backend (warm cache).

Targets (issue 6): end to end int8 >= 1.6x the sentence-transformers path with Spearman within 0.005 of 0.8203;
in-process int8 >= 1.5x torch on both sets; warm first vector <= 15% of the sentence-transformers path.
The cache is $EMBEDCLI_CACHE (default ~/.cache/embedcli): the first run exports the model there.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from stsb import sts_pairs

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
NOVEL = DATA / "gutenberg-en" / "1342-0.txt"
SPEARMAN_REFERENCE = 0.8203

DIRECT = """
import sys
import numpy as np
from sentence_transformers import SentenceTransformer
from embedcli.backends.models import shipped_model_path
texts = [line.rstrip("\\n") for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
model = SentenceTransformer(str(shipped_model_path("all-MiniLM-L6-v2")), device="cpu")
np.save(sys.argv[3], model.encode(texts, batch_size=int(sys.argv[2])))
"""


def long_sentences(n: int) -> list[str]:
    """Sentences of 12 to 40 words from Pride and Prejudice (BOM and CRLF handled), in book order."""
    text = re.sub(r"\s+", " ", NOVEL.read_text(encoding="utf-8-sig"))
    sentences = (s.strip() for s in re.split(r"(?<=[.!?])\s+", text))
    return [s for s in sentences if 12 <= len(s.split()) <= 40][:n]


def spearman(vectors: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import spearmanr

    half = len(vectors) // 2
    a, b = vectors[:half], vectors[half:]
    cosines = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return float(spearmanr(cosines, scores).statistic)


def alternate(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per contender, running them in turn each round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(ts) for name, ts in times.items()}


def in_process(sets: dict[str, list[str]], args: argparse.Namespace) -> None:
    from sentence_transformers import SentenceTransformer

    from embedcli.backends.base import BackendOptions
    from embedcli.backends.models import resolve_model
    from embedcli.backends.onnx.runtime import OnnxBackend

    model = resolve_model(None)
    st = SentenceTransformer(model.location, device="cpu")
    encoders = {
        q: OnnxBackend(
            model, BackendOptions(batch_size=args.onnx_batch, extra={"quantize": q, "threads": args.threads or None})
        )
        for q in ("none", "int8")
    }
    print(f"1. in process, sentences/s (median of {args.rounds}; torch batch {args.st_batch}, onnx {args.onnx_batch})")
    print(f"   {'set':<31}{'torch':>8}{'onnx fp32':>11}{'onnx int8':>11}{'fp32/torch':>12}{'int8/torch':>12}")
    for name, texts in sets.items():
        st.encode(texts[:64], batch_size=args.st_batch)  # warm up
        contenders: dict[str, Callable[[], object]] = {
            "torch": lambda t=texts: st.encode(t, batch_size=args.st_batch),
            "none": lambda t=texts: encoders["none"].embed(t),
            "int8": lambda t=texts: encoders["int8"].embed(t),
        }
        rate = {k: len(texts) / s for k, s in alternate(contenders, args.rounds).items()}
        tokens = np.mean([len(e.ids) for e in encoders["none"]._encoder.tokenizer.encode_batch(texts)])
        label = f"{name} ({len(texts)}, {tokens:.0f} tok)"
        print(
            f"   {label:<31}{rate['torch']:8.0f}{rate['none']:11.0f}{rate['int8']:11.0f}"
            f"{rate['none'] / rate['torch']:12.2f}{rate['int8'] / rate['torch']:12.2f}"
        )


def end_to_end(sentences: list[str], scores: np.ndarray, args: argparse.Namespace, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "sentences.txt"
        corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        cli = [sys.executable, "-m", "embedcli", "embed", str(corpus), "-q"]
        onnx = [*cli, "-b", "onnx", "--batch-size", str(args.onnx_batch)]
        onnx += ["--threads", str(args.threads)] if args.threads else []
        commands = {
            "sentence-transformers direct": [sys.executable, "-c", DIRECT, str(corpus), str(args.st_batch)],
            "embedcli sentence-transformers": [*cli, "--batch-size", str(args.st_batch), "-o"],
            "embedcli onnx fp32": [*onnx, "-o"],
            "embedcli onnx int8": [*onnx, "--quantize", "int8", "-o"],
        }
        outputs = {name: f"{tmp}/{i}.npy" for i, name in enumerate(commands)}
        runs = {
            name: (lambda c=cmd, o=outputs[name]: subprocess.run([*c, o], check=True, env=env, capture_output=True))
            for name, cmd in commands.items()
        }
        for name in ("embedcli onnx fp32", "embedcli onnx int8"):
            runs[name]()  # exports on the very first run: not part of the measurement
        seconds = alternate(runs, args.rounds)
        base = seconds["sentence-transformers direct"]
        print(f"2. end to end, start-up included, {len(sentences):,} STS-B sentences (median of {args.rounds})")
        print(f"   {'path':<32}{'seconds':>8}{'sent/s':>8}{'speed-up':>10}{'Spearman':>10}")
        for name, s in seconds.items():
            rho = spearman(np.load(outputs[name]).astype(np.float32), scores)
            print(f"   {name:<32}{s:8.2f}{len(sentences) / s:8.0f}{base / s:10.2f}{rho:10.4f}")


def first_vector(args: argparse.Namespace, env: dict[str, str]) -> None:
    cli = [sys.executable, "-m", "embedcli", "embed", "-t", "hello world", "--format", "jsonl", "-q"]
    commands = {
        "sentence-transformers": [*cli, "-b", "sentence-transformers"],
        "transformers": [*cli, "-b", "transformers"],
        "onnx fp32": [*cli, "-b", "onnx"],
        "onnx int8": [*cli, "-b", "onnx", "--quantize", "int8"],
    }
    runs = {
        name: (lambda c=cmd: subprocess.run(c, check=True, env=env, capture_output=True))
        for name, cmd in commands.items()
    }
    rounds = args.rounds + 2 if args.rounds > 1 else 1
    seconds = alternate(runs, rounds)
    base = seconds["sentence-transformers"]
    print(f"3. process start to first vector, `embed -t` (median of {rounds}, warm cache)")
    for name, s in seconds.items():
        print(f"   {name:<32}{s:8.2f} s{s / base:8.1%} of sentence-transformers")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 sentences per set, 1 round: a smoke test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=0, help="STS-B pairs to use (default: all 1,379)")
    parser.add_argument("--long", type=int, default=1000, help="longer sentences for the in-process test")
    parser.add_argument("--st-batch", type=int, default=64, help="batch size of the sentence-transformers paths")
    parser.add_argument("--onnx-batch", type=int, default=32, help="batch size of the onnx paths")
    parser.add_argument("--threads", type=int, default=0, help="onnx threads (default: all cores)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["inprocess", "endtoend", "first"])
    args = parser.parse_args(argv)
    pairs = args.sentences or None
    if args.quick:
        args.rounds, pairs, args.long = 1, 150, 300
    first, second, score_list = sts_pairs()
    scores = np.array(score_list)
    first, second, scores = first[:pairs], second[:pairs], scores[:pairs]
    sts = first + second
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    print(f"onnx backend vs sentence-transformers, all-MiniLM-L6-v2, {os.cpu_count()} cores (shared: ratios matter)")
    if "inprocess" not in args.skip:
        in_process({"STS-B test": sts, "Gutenberg long": long_sentences(args.long)}, args)
    if "endtoend" not in args.skip:
        end_to_end(sts, scores, args, env)
    if "first" not in args.skip:
        first_vector(args, env)


if __name__ == "__main__":
    main()
