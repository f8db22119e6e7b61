"""embed: `embedcli embed` against SentenceTransformer.encode called directly, end to end, start-up included.

Every contender runs as a fresh process on the same sentences (the STS-B test set, 2,758 sentences), with the same
model and batch size, alternating, several rounds; the figures are ratios of median wall times.
1. Throughput. Targets: `embed --backend sentence-transformers` costs no more than 10% over the direct call; the
   default backend (auto: the cached onnx export) embeds at least 2x as fast as the direct call.
2. Time from process start to the first vector, `embed -t "hello world" --format jsonl`: the default backend takes
   no more than 12% of the time --backend sentence-transformers takes (both with a warm cache).
The default backend's export must exist (`embedcli models --export all-MiniLM-L6-v2`, done by `make install`);
the first default run here makes it otherwise, outside the measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from stsb import sts_pairs

REPO = Path(__file__).resolve().parents[1]

DIRECT = """
import sys
from sentence_transformers import SentenceTransformer
from embedcli.backends.models import shipped_model_path
texts = [line.rstrip("\\n") for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
model = SentenceTransformer(str(shipped_model_path("all-MiniLM-L6-v2")), device="cpu")
vectors = model.encode(texts, batch_size=int(sys.argv[2]))
import numpy as np
np.save(sys.argv[3], vectors)
"""


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _alternate(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, float]:
    """Median wall seconds per command, running them in turn each round (the machine is shared: read ratios)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            times[name].append(_timed(cmd, env))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 sentences, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    first, second, _ = sts_pairs()
    sentences = first + second
    rounds = args.rounds
    if args.quick:
        sentences, rounds = sentences[:300], 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("EMBEDCLI_BACKEND", None)
    cli = [sys.executable, "-m", "embedcli", "embed", "-q", "--batch-size", str(args.batch_size)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "sentences.txt"
        corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        commands = {
            "direct": [sys.executable, "-c", DIRECT, str(corpus), str(args.batch_size), f"{tmp}/direct.npy"],
            "st": [*cli, str(corpus), "-b", "sentence-transformers", "-o", f"{tmp}/st.npy"],
            "default": [*cli, str(corpus), "-o", f"{tmp}/default.npy"],
        }
        _timed(commands["default"], env)  # makes the export if `make install` did not: not measured
        seconds = _alternate(commands, env, rounds)
        direct = np.load(f"{tmp}/direct.npy")
        diff = {name: float(np.abs(direct - np.load(f"{tmp}/{name}.npy")).max()) for name in ("st", "default")}
    text = [*cli, "-t", "hello world", "--format", "jsonl"]
    first_rounds = rounds + 2 if rounds > 1 else 1
    firsts = _alternate({"st": [*text, "-b", "sentence-transformers"], "default": text}, env, first_rounds)
    d, c, a = seconds["direct"], seconds["st"], seconds["default"]
    n = len(sentences)
    print(
        f"embed: {n:,} STS-B sentences, batch {args.batch_size}, {rounds} rounds, median wall time, start-up included"
    )
    print(f"  SentenceTransformer.encode (direct)     : {d:6.2f} s  {n / d:7.1f} sentences/s")
    print(
        f"  embedcli embed -b sentence-transformers : {c:6.2f} s  {n / c:7.1f} sentences/s  CLI / direct {c / d:.3f}"
        f" (target <= 1.10); max |diff| {diff['st']:.1e}"
    )
    print(
        f"  embedcli embed (default: auto -> onnx)  : {a:6.2f} s  {n / a:7.1f} sentences/s  speed-up {d / a:.2f}x"
        f" (target >= 2x); max |diff| {diff['default']:.1e}"
    )
    fs, fa = firsts["st"], firsts["default"]
    print(f"first vector, `embed -t` (median of {first_rounds}, warm cache)")
    print(f"  -b sentence-transformers                : {fs:6.2f} s")
    print(
        f"  default (auto -> onnx)                  : {fa:6.2f} s  {fa / fs:.1%} of sentence-transformers"
        " (target <= 12%)"
    )
    return {"direct_s": d, "cli_s": c, "ratio": c / d, "default_s": a, "speedup": d / a, "first_ratio": fa / fs}


if __name__ == "__main__":
    main()
