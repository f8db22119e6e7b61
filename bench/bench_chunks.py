"""chunks: `embedcli embed book.txt --chunk 200 --overlap 20` against the same chunks encoded by
SentenceTransformer.encode called directly, end to end (start-up, reading, chunking, writing included).

The direct side reads the same novel (BOM removed), cuts it with the same splitter on the model's own tokenizer
(`embedcli.embed.chunking.TokenSplitter`, so the chunks are identical) and encodes them with
`SentenceTransformer.encode`. Every contender is a fresh process; they alternate, several rounds; figures are ratios
of median wall times. Target: `embed --chunk -b sentence-transformers` costs no more than 1.1x the direct call.
The default backend (auto: the cached onnx export) is shown beside it. The chunks and the vectors are compared too
(same chunk texts; max |diff| of the vectors).
Default novel: Frankenstein (84-0.txt, 450 KB, ~620 chunks); --quick: its first 40 KB, one round.
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

REPO = Path(__file__).resolve().parents[1]
BOOKS = REPO.parent / "shared" / "data" / "gutenberg-en"

DIRECT = """
import sys
import numpy as np
from sentence_transformers import SentenceTransformer
from embedcli.backends.models import shipped_model_path
from embedcli.embed.chunking import ChunkOptions, TokenSplitter
text = open(sys.argv[1], encoding="utf-8-sig", newline="").read()
model = SentenceTransformer(str(shipped_model_path("all-MiniLM-L6-v2")), device="cpu")
splitter = TokenSplitter(model.tokenizer.backend_tokenizer, ChunkOptions(int(sys.argv[2]), int(sys.argv[3])))
chunks = [text[s.start : s.end] for s in splitter.spans(text)]
vectors = model.encode(chunks, batch_size=int(sys.argv[4]))
np.save(sys.argv[5], vectors)
open(sys.argv[5] + ".txt", "w", encoding="utf-8", newline="").write("\\0".join(chunks))
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
    parser.add_argument("--quick", action="store_true", help="the first 40 KB of the novel, 1 round")
    parser.add_argument("--book", default="84-0.txt", help="a file of shared/data/gutenberg-en")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--overlap", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    data, rounds = (BOOKS / args.book).read_bytes(), args.rounds
    if args.quick:
        data, rounds = data[: data.rindex(b"\r\n", 0, 40_000) + 2], 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    env.pop("EMBEDCLI_BACKEND", None)
    sizes = [str(args.chunk), str(args.overlap)]
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book.txt"
        book.write_bytes(data)
        cli = [sys.executable, "-m", "embedcli", "embed", str(book), "-q", "--batch-size", str(args.batch_size)]
        cli += ["--chunk", sizes[0], "--overlap", sizes[1]]
        commands = {
            "direct": [sys.executable, "-c", DIRECT, str(book), *sizes, str(args.batch_size), f"{tmp}/direct.npy"],
            "st": [*cli, "-b", "sentence-transformers", "-o", f"{tmp}/st.parquet"],
            "default": [*cli, "-o", f"{tmp}/default.parquet"],
        }
        _timed(commands["default"], env)  # makes the export if `make install` did not: not measured
        seconds = _alternate(commands, env, rounds)
        import pyarrow.parquet as pq

        direct = np.load(f"{tmp}/direct.npy")
        with open(f"{tmp}/direct.npy.txt", encoding="utf-8", newline="") as written:  # CRLF kept
            same_chunks = written.read().split("\0") == (pq.read_table(f"{tmp}/st.parquet").column("text").to_pylist())
        diff = {}
        for name in ("st", "default"):
            table = pq.read_table(f"{tmp}/{name}.parquet")
            vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
            diff[name] = float(np.abs(direct - vectors).max())
    d, c, a = seconds["direct"], seconds["st"], seconds["default"]
    n = len(direct)
    print(
        f"chunks: {args.book} ({len(data):,} bytes) in {n:,} chunks of <= {args.chunk} tokens, overlap "
        f"{args.overlap}, batch {args.batch_size}, {rounds} rounds, median wall time, start-up included; "
        f"same chunks: {same_chunks}"
    )
    print(f"  split + SentenceTransformer.encode (direct)     : {d:7.2f} s  {n / d:6.1f} chunks/s")
    print(
        f"  embedcli embed --chunk -b sentence-transformers : {c:7.2f} s  {n / c:6.1f} chunks/s  CLI / direct "
        f"{c / d:.3f} (target <= 1.10); max |diff| {diff['st']:.1e}"
    )
    print(
        f"  embedcli embed --chunk (default: auto -> onnx)  : {a:7.2f} s  {n / a:6.1f} chunks/s  speed-up "
        f"{d / a:.2f}x; max |diff| {diff['default']:.1e}"
    )
    return {"direct_s": d, "cli_s": c, "ratio": c / d, "default_s": a, "speedup": d / a}


if __name__ == "__main__":
    main()
