"""similar --where: the cost of filtering a corpus by a predicate on its columns, beside the search it precedes.

Corpus: N rows x 384 float32 (random), with a `genre` column of 8 values and a `year` column, Q queries, k = 10.
Timed, best of --rounds, all in one process:
  where (duckdb)   embedcli's `where_rows`: the columns as an Arrow table, DuckDB's filter, the row numbers
  pyarrow direct   the same predicate as a pyarrow.compute mask on a ready Arrow table (the floor: no SQL)
  arrow table      building that Arrow table from the corpus's columns (Python lists), which `where_rows` does too
  subset           copying the kept rows out (`search.where.subset`)
  search           exact top-k of Q queries over the kept rows (`find_similar`), the work the filter precedes
Figures are noisy on a shared machine; read the ratios of one run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedcli.metrics import Metric
from embedcli.search.corpus import Corpus
from embedcli.search.neighbours import find_similar
from embedcli.search.queries import Queries
from embedcli.search.where import subset, where_rows

SEED = 1234
PREDICATE = "genre = 'g3' AND year >= 2010"


def best_of(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 1 round")
    args = parser.parse_args()
    rows, rounds = (20_000, 1) if args.quick else (args.rows, args.rounds)
    rng = np.random.default_rng(SEED)
    vectors = rng.standard_normal((rows, 384)).astype(np.float32)
    genres = [f"g{i % 8}" for i in range(rows)]
    years = (2000 + rng.integers(0, 25, rows)).tolist()
    corpus = Corpus("bench", [str(i) for i in range(rows)], vectors, 384, columns={"genre": genres, "year": years})
    table = pa.table({"genre": genres, "year": years})
    queries = Queries([f"q{i}" for i in range(args.queries)], rng.standard_normal((args.queries, 384)).astype("f4"))

    kept = where_rows(corpus, PREDICATE)
    mask = pc.and_(pc.equal(table["genre"], "g3"), pc.greater_equal(table["year"], 2010))
    assert np.array_equal(kept, np.flatnonzero(mask.to_numpy(zero_copy_only=False)))
    filtered = subset(corpus, kept)

    def search() -> None:
        hits, _ = find_similar(filtered, queries, Metric.cosine, k=10, way=None)
        list(hits)

    figures = {
        "where (duckdb)": best_of(rounds, lambda: where_rows(corpus, PREDICATE)),
        "pyarrow direct": best_of(
            rounds, lambda: pc.and_(pc.equal(table["genre"], "g3"), pc.greater_equal(table["year"], 2010))
        ),
        "arrow table": best_of(
            rounds, lambda: pa.table({"id": corpus.ids, "genre": genres, "year": years, "row": np.arange(rows)})
        ),
        "subset": best_of(rounds, lambda: subset(corpus, kept)),
        "search": best_of(rounds, search),
    }
    print(f"{rows:,} rows x 384, {len(kept):,} kept by {PREDICATE!r}, {args.queries} queries, best of {rounds}")
    floor = figures["pyarrow direct"]
    for name, seconds in figures.items():
        print(f"  {name:<16} {seconds * 1000:9.1f} ms  {seconds / floor:7.1f}x pyarrow direct")


if __name__ == "__main__":
    main()
