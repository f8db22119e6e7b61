"""store: the cost of writing an incremental Lance store, against Parquet and Lance written by pyarrow/lance directly.

Rows: N real sentences (STS-B train/dev/test, then Gutenberg paragraphs' first lines) with random 384-d float32
vectors (the embed time is not measured here: the vectors are precomputed and looked up). Side by side:
  parquet      pyarrow.parquet.write_table of (id, text, embedding) in one call: the plain output today
  lance        lance.write_dataset of the same table in one call: the format's own floor
  store        embedcli's update_store into a new store: hashing, planning, commits every 4,096 rows (upserts)
  re-run       update_store again with nothing changed: the skip check (reads ids and hashes only)
  1% edited    update_store with 1% of texts changed: the skip check plus re-embedding and one upsert
Targets (issue 11): an unchanged re-run <= 5% of the first run (with the embed time added to the first run by the
caller; here, of the store write alone, which is stricter); the store's write cost <= 10% of the embed time.
Figures are medians of a few rounds on a shared 2-core machine: noisy, compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# The shared data sits beside the main checkout (../shared); a worktree one level deeper finds it one level up.
DATA = next(
    (p / "shared" / "data" for p in Path(__file__).resolve().parents[2:4] if (p / "shared" / "data").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
SEED = 1234
DIM = 384


def sentences(n: int) -> list[str]:
    """Up to `n` distinct real sentences: STS-B first, then Gutenberg lines of at least 40 characters."""
    seen: dict[str, None] = {}
    for name in ("sts-train.csv", "sts-dev.csv", "sts-test.csv"):
        for line in (DATA / "stsbenchmark" / name).read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            for text in fields[5:7]:
                seen.setdefault(text.strip(), None)
    for book in sorted((DATA / "gutenberg-en").glob("*.txt")):
        if len(seen) >= n:
            break
        for line in book.read_text(encoding="utf-8-sig", errors="replace").splitlines():
            if len(line.strip()) >= 40:
                seen.setdefault(line.strip(), None)
    texts = [t for t in seen if t][:n]
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} distinct sentences found under {DATA}")
    return texts


def _timed(run: Callable[[], object], rounds: int, before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(rounds):
        before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke-size run (2,000 rows, one round)")
    parser.add_argument("--embed-rows", type=int, default=0, help="sentences for the end-to-end part (default: --rows)")
    args = parser.parse_args(argv)
    rows, rounds = (2_000, 1) if args.quick else (args.rows, args.rounds)

    import lance
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embedcli.embed.incremental import update_store
    from embedcli.formats.lance_store import create_store, open_store
    from embedcli.precision import Precision

    texts = sentences(rows)
    ids = [f"s{i}" for i in range(rows)]
    vectors = np.random.default_rng(SEED).standard_normal((rows, DIM)).astype(np.float32)
    lookup = {t: i for i, t in enumerate(texts)}
    edited = {i: f"{texts[i]} (edited)" for i in range(0, rows, 100)}
    for i, t in edited.items():
        lookup[t] = i
    table = pa.table(
        {
            "id": ids,
            "text": texts,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )
    settings = {"model": "bench", "dimension": DIM, "precision": "float32"}
    calls = {"texts": 0}

    def embed(batch: list[str]) -> np.ndarray:
        calls["texts"] += len(batch)
        return vectors[[lookup[t] for t in batch]]

    def items(changed: bool = False) -> list[tuple[str, str, str]]:
        return [(ids[i], edited.get(i, texts[i]) if changed else texts[i], f"bench:{i}") for i in range(rows)]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def fresh(name: str) -> Callable[[], None]:
            def remove() -> None:
                target = root / name
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)

            return remove

        parquet = _timed(lambda: pq.write_table(table, root / "out.parquet"), rounds, fresh("out.parquet"))
        raw = _timed(lambda: lance.write_dataset(table, str(root / "raw.lance")), rounds, fresh("raw.lance"))

        def first_run() -> None:
            store = create_store(root / "kb.lance", settings, Precision.float32, DIM)
            update_store(store, items(), embed)

        first = _timed(first_run, rounds, fresh("kb.lance"))
        plain = items()
        rerun = _timed(lambda: update_store(open_store(root / "kb.lance"), plain, embed), rounds)
        calls["texts"] = 0
        changed = items(changed=True)
        edit = _timed(lambda: update_store(open_store(root / "kb.lance"), changed, embed), 1)
        re_embedded = calls["texts"]
        store_bytes = open_store(root / "kb.lance").size_bytes()
        parquet_bytes = (root / "out.parquet").stat().st_size

    print(f"store: {rows:,} rows x {DIM} float32, real sentences; median of {rounds} round(s); noisy shared machine")
    print(f"{'':<40}{'seconds':>10}{'vs parquet':>12}{'vs first run':>14}")
    for name, seconds in (
        ("parquet (pyarrow direct)", parquet),
        ("lance (write_dataset)", raw),
        ("store, first run", first),
        ("store, unchanged re-run", rerun),
        (f"store, 1% edited ({re_embedded:,} re-embedded)", edit),
    ):
        print(f"{name:<40}{seconds:>10.3f}{seconds / parquet:>11.2f}x{seconds / first:>13.1%}")
    print(f"on disk: store {store_bytes / 1e6:.1f} MB (all versions), parquet {parquet_bytes / 1e6:.1f} MB")
    print(f"store write cost over parquet: {first - parquet:+.3f} s for {rows:,} rows (compare with the embed time)")
    end_to_end(texts[: args.embed_rows or (500 if args.quick else rows)])


def end_to_end(texts: list[str]) -> None:
    """The issue's two targets with the real default model, side by side: `embed -o v.parquet`, then `embed -o
    kb.lance` twice (the second embeds nothing). Each is a fresh process, start-up and model load included."""
    import subprocess
    import sys

    def run(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "embedcli", "embed", *args, "-q"], check=True)
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "s.txt"
        source.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
        parquet = run(str(source), "-o", str(Path(tmp) / "v.parquet"))
        store = run(str(source), "-o", str(Path(tmp) / "kb.lance"))
        rerun = run(str(source), "-o", str(Path(tmp) / "kb.lance"))
    print(f"end to end, default model, {len(texts):,} sentences (fresh processes, one run each):")
    print(f"  embed -o v.parquet        {parquet:8.1f} s")
    print(f"  embed -o kb.lance         {store:8.1f} s   store cost {(store - parquet) / parquet:+.1%} (target <= 10%)")
    print(f"  embed -o kb.lance again   {rerun:8.1f} s   {rerun / store:.1%} of the first run (target <= 5%)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
