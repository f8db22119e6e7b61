"""Where a `train` run writes (`Targets`), what it did (`TrainOutcome`), and the evaluation files `--eval` means.

Shared by the gensim path (`run`) and the GloVe path (`glove_run`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedcli.train.fit import (
    TrainReport,
)
from embedcli.train.saving import VectorFileFormat
from embedcli.train.sentences import (
    CorpusStats,
)
from embedcli.train.settings import TrainSettings


@dataclass
class Targets:
    """Where results go. Every field is optional: `--estimate` or `--eval` alone write nothing."""

    output: str | None = None
    output_format: VectorFileFormat | None = None
    save_model: str | None = None
    eval: bool = False
    eval_analogies: list[str] | None = None
    eval_pairs: list[str] | None = None
    save_cooccur: str | None = None  # GloVe: keep the co-occurrence matrix (.npz)


@dataclass
class TrainOutcome:
    settings: TrainSettings
    corpus: CorpusStats
    vocabulary: int = 0
    phrases: int = 0
    read_seconds: float = 0.0  # reading and tokenizing (phrases included)
    report: TrainReport | None = None
    memory: dict[str, int] | None = None  # --estimate: gensim's estimate, in bytes by part
    written: list[str] = field(default_factory=list)
    evaluation: dict[str, list[Any]] | None = None
    model: Any = None
    skipped_blank: int = 0  # blank texts the reader skipped (train_inputs only)
    cooccurrences: int = 0  # GloVe: non-zeros of the co-occurrence matrix
    count_seconds: float = 0.0  # GloVe: counting them
    cooccurrence_file: str | None = None  # GloVe: trained from this saved matrix (--cooccur), no input read

    def metadata(self) -> dict[str, Any]:
        """What is recorded beside the vectors (Parquet metadata, --save-model): gensim's arguments as run
        ("settings"), and every setting of the run as a config ("config", what `--config` reads back) with
        its digest ("config_sha256")."""
        out = {
            "trained_by": "embedcli train",
            "settings": self.settings.describe(),
            "tokens": self.corpus.tokens,
            "config": self.settings.config(),
            "config_sha256": self.settings.config_sha256(),
        }
        if self.cooccurrences:
            out["cooccurrence_records"] = self.cooccurrences
        return out


def eval_files(targets: Targets) -> tuple[list[str] | None, list[str] | None]:
    """`--eval` means the shipped files; `--eval-analogies/--eval-pairs` add (or alone, replace) files."""
    from embedcli.train.evaluation import SHIPPED_ANALOGIES, SHIPPED_PAIRS, shipped_file

    analogies = list(targets.eval_analogies or [])
    pairs = list(targets.eval_pairs or [])
    if targets.eval:
        analogies = [shipped_file(n) for n in SHIPPED_ANALOGIES] + analogies
        pairs = [shipped_file(n) for n in SHIPPED_PAIRS] + pairs
    return analogies, pairs
