"""Evaluating word vectors with gensim's own functions: analogy accuracy and word-pair correlations.

The numbers are exactly gensim's (`evaluate_word_analogies`, `evaluate_word_pairs`, case-insensitive, the
300,000 most frequent words); the analogy OOV rate, which gensim only logs, is computed from its result.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedcli.errors import UsageError

SHIPPED_ANALOGIES = ("questions-words.txt",)
SHIPPED_PAIRS = ("wordsim353.tsv", "simlex999.txt")


@dataclass
class AnalogyResult:
    file: str
    accuracy: float  # share of the evaluated questions answered right (nan when none could be evaluated)
    correct: int
    evaluated: int
    questions: int  # all questions in the file
    oov_rate: float  # share of questions skipped because a word is out of vocabulary


@dataclass
class PairResult:
    file: str
    spearman: float
    pearson: float
    pairs: int
    oov_rate: float  # share of pairs with a word out of vocabulary (gensim's own ratio, as a fraction)


def shipped_file(name: str) -> str:
    """The path of an evaluation file that ships with gensim."""
    from gensim.test.utils import datapath

    return str(datapath(name))


def evaluate(kv: Any, analogies: list[str] | None = None, pairs: list[str] | None = None) -> dict[str, list[Any]]:
    """Evaluate `kv` on analogy and word-pair files (None: the files shipped with gensim)."""
    analogy_files = analogies if analogies is not None else [shipped_file(n) for n in SHIPPED_ANALOGIES]
    pair_files = pairs if pairs is not None else [shipped_file(n) for n in SHIPPED_PAIRS]
    for path in analogy_files + pair_files:
        if not Path(path).is_file():
            raise UsageError(f"no such evaluation file: {path}")
    quiet = logging.getLogger("gensim.models.keyedvectors")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # gensim logs every section at INFO
    try:
        return {
            "analogies": [evaluate_analogies(kv, p) for p in analogy_files],
            "pairs": [evaluate_pairs(kv, p) for p in pair_files],
        }
    finally:
        quiet.setLevel(level)


def evaluate_analogies(kv: Any, path: str) -> AnalogyResult:
    score, sections = kv.evaluate_word_analogies(path)
    empty: dict[str, Any] = {"correct": [], "incorrect": []}
    total = next((s for s in sections if s["section"] == "Total accuracy"), empty)
    correct, evaluated = len(total["correct"]), len(total["correct"]) + len(total["incorrect"])
    questions = _count_questions(path)
    return AnalogyResult(
        file=Path(path).name,
        accuracy=float(score) if evaluated else math.nan,
        correct=correct,
        evaluated=evaluated,
        questions=questions,
        oov_rate=1 - evaluated / questions if questions else math.nan,
    )


def evaluate_pairs(kv: Any, path: str) -> PairResult:
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(path)
    return PairResult(
        file=Path(path).name,
        spearman=float(spearman[0]),
        pearson=float(pearson[0]),
        pairs=_count_pairs(path),
        oov_rate=float(oov_percent) / 100,
    )


def as_json(results: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Results as plain JSON values (NaN becomes null)."""

    def clean(row: Any) -> dict[str, Any]:
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(row).items()}

    return {kind: [clean(r) for r in rows] for kind, rows in results.items()}


def _count_questions(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.strip() and not line.startswith(":"))


def _count_pairs(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.strip() and not line.startswith("#"))
