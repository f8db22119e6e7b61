"""embed: `embedcli embed` against SentenceTransformer.encode called directly, end to end, start-up included.

Both sides run as fresh processes on the same sentences (the STS-B test set, 2,758 sentences), with the same model,
batch size and thread count, alternating, several rounds; the figure is the ratio of median wall times.
Target: the CLI costs no more than 10% over the direct call.
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


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
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
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "sentences.txt"
        corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        direct_cmd = [sys.executable, "-c", DIRECT, str(corpus), str(args.batch_size), f"{tmp}/direct.npy"]
        cli_cmd = [
            sys.executable,
            "-m",
            "embedcli",
            "embed",
            str(corpus),
            "-o",
            f"{tmp}/cli.npy",
            "-q",
            "--batch-size",
            str(args.batch_size),
        ]
        direct, cli = [], []
        for _ in range(rounds):
            direct.append(_timed(direct_cmd, env))
            cli.append(_timed(cli_cmd, env))
        import numpy as np

        max_diff = float(np.abs(np.load(f"{tmp}/direct.npy") - np.load(f"{tmp}/cli.npy")).max())
    d, c = statistics.median(direct), statistics.median(cli)
    print(f"embed: {len(sentences):,} STS-B sentences, batch {args.batch_size}, {rounds} rounds, median wall time")
    print(f"  SentenceTransformer.encode (direct): {d:6.2f} s  {len(sentences) / d:7.1f} sentences/s")
    print(f"  embedcli embed (CLI)               : {c:6.2f} s  {len(sentences) / c:7.1f} sentences/s")
    print(f"  ratio CLI / direct                 : {c / d:6.3f}  (target <= 1.10); max |diff| {max_diff:.2e}")
    return {"direct_s": d, "cli_s": c, "ratio": c / d}


if __name__ == "__main__":
    main()
