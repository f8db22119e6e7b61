"""The STS Benchmark test pairs, shared by the benchmarks that embed them."""

from __future__ import annotations

from pathlib import Path

STS_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsbenchmark" / "sts-test.csv"


def sts_pairs() -> tuple[list[str], list[str], list[float]]:
    """STS-B test pairs, read as its README says: tab-separated, no quoting, columns 4-6."""
    first, second, scores = [], [], []
    for line in STS_TEST.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        scores.append(float(fields[4]))
        first.append(fields[5])
        second.append(fields[6])
    return first, second, scores
