"""What `embedcli train` shows: the epoch progress bar, the summary, the evaluation table, the memory estimate.

All of it goes to stderr, except what was asked for as data (`--estimate`, `--eval-json -`).
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from embedcli.cli.console import info, plural, stderr
from embedcli.train.settings import Algorithm

if TYPE_CHECKING:
    from embedcli.train.fit import EpochReport
    from embedcli.train.run import TrainOutcome


class EpochProgress:
    """A progress bar over epochs on stderr: words/s and the loss of the last epoch, with its change."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._last_loss: float | None = None
        self._pieces = 0
        self._starting = threading.Lock()

    def __enter__(self) -> EpochProgress:
        return self

    def _start(self) -> None:
        # Started at the first report, not on entry: rich refreshes from a thread, and while no other thread
        # runs, reading can go on in a forked child while gensim is imported (training.background).
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        self._progress.__enter__()

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, exc, tb)

    def update(self, report: EpochReport) -> None:
        if not self.enabled:
            return
        with self._starting:  # reports come from gensim's job-producer thread as well as the main one
            if self._progress is None:
                self._start()
        if self._task is None:
            self._task = self._progress.add_task("", total=report.epochs, epoch="", rate="", loss="")
        if report.words == 0:  # within an epoch: pieces handed to gensim so far
            self._progress.update(self._task, completed=report.epoch + self._fraction(report))
            self._progress.update(self._task, epoch=f"{report.epoch + 1}/{report.epochs}")
            return
        unit = "words" if report.cost is None else "records"
        fields = {"epoch": f"{report.epoch}/{report.epochs}", "rate": f"{report.words_per_second:,.0f} {unit}/s"}
        if report.cost is not None:
            fields["loss"] = f"cost {report.cost:.6f}"
        elif report.loss is not None:
            change = ""
            if self._last_loss:
                change = f" ({(report.loss - self._last_loss) / self._last_loss:+.1%})"
            fields["loss"] = f"loss {report.loss:,.0f}{change}"
            self._last_loss = report.loss
        self._progress.update(self._task, completed=report.epoch, **fields)
        self._progress.console.print(
            f"epoch {report.epoch}/{report.epochs}: {report.seconds:.1f} s, {fields['rate']}"
            + (f", {fields['loss']}" if fields.get("loss") else ""),
            markup=False,
            highlight=False,
        )

    def _fraction(self, report: EpochReport) -> float:
        self._pieces = max(self._pieces, report.done_pieces)
        return 0.0 if not self._pieces else min(report.done_pieces / max(self._pieces, 1), 0.99)


def summarize(outcome: TrainOutcome) -> None:
    """One line on stderr: what was trained on what, how fast, and where it went."""
    if outcome.settings.algorithm is Algorithm.glove:
        info(" · ".join(_glove_parts(outcome)))
        return
    report, stats, skipped_blank = outcome.report, outcome.corpus, outcome.skipped_blank
    assert report is not None
    parts = [
        f"trained {_describe(outcome)} on {plural(stats.texts, 'text')}, {plural(stats.tokens, 'token')}",
        f"vocabulary {outcome.vocabulary:,}",
        f"{plural(report.epochs, 'epoch')} in {report.seconds:.1f} s ({report.words_per_second:,.0f} words/s, "
        f"gensim {report.corpus_mode.value} path; reading {outcome.read_seconds:.1f} s)",
    ]
    if report.losses and report.losses[-1] is not None:
        parts.append(f"last epoch's loss {report.losses[-1]:,.0f}")
    if stats.split_texts:
        parts.append(f"{plural(stats.split_texts, 'text')} over 10,000 tokens split into pieces")
    if outcome.phrases:
        parts.append(f"{plural(outcome.phrases, 'phrase')} joined")
    if skipped_blank or stats.empty_texts:
        parts.append(f"{plural(skipped_blank + stats.empty_texts, 'text')} without a token skipped")
    if outcome.written:
        parts.append("wrote " + ", ".join(outcome.written))
    info(" · ".join(parts))


def _glove_parts(outcome: TrainOutcome) -> list[str]:
    s, report, stats = outcome.settings, outcome.report, outcome.corpus
    if outcome.cooccurrence_file is not None:
        source = f"the co-occurrence matrix {outcome.cooccurrence_file}"
    else:
        source = (
            f"{plural(stats.texts, 'text')}, {plural(stats.tokens, 'token')} (reading {outcome.read_seconds:.1f} s)"
        )
    glove = s.glove_settings()
    parts = [
        f"{'trained GloVe' if report else 'counted'} ({glove.dim}-d, window {s.window}, x_max {glove.x_max:g}) "
        f"on {source}",
        f"vocabulary {outcome.vocabulary:,}",
        f"{plural(outcome.cooccurrences, 'co-occurrence record')}"
        + (f" (counting {outcome.count_seconds:.1f} s)" if outcome.cooccurrence_file is None else ""),
    ]
    if report is not None:
        parts.append(
            f"{plural(report.epochs, 'epoch')} in {report.seconds:.1f} s ({report.words_per_second:,.0f} records/s)"
        )
        if report.losses and report.losses[-1] is not None:
            parts.append(f"last epoch's cost {report.losses[-1]:.6f}")
    if outcome.phrases:
        parts.append(f"{plural(outcome.phrases, 'phrase')} joined")
    if outcome.skipped_blank or stats.empty_texts:
        parts.append(f"{plural(outcome.skipped_blank + stats.empty_texts, 'text')} without a token skipped")
    if outcome.written:
        parts.append("wrote " + ", ".join(outcome.written))
    return parts


def _describe(outcome: TrainOutcome) -> str:
    s = outcome.settings
    if s.algorithm is Algorithm.doc2vec:
        return "Doc2Vec (PV-DBOW)" if s.dbow else "Doc2Vec (PV-DM)"
    name = "Word2Vec" if s.algorithm is Algorithm.word2vec else "FastText"
    dim = outcome.model.vector_size if outcome.model is not None else s.dim
    sg, hs = (outcome.model.sg, outcome.model.hs) if outcome.model is not None else (s.sg, s.hs)
    return f"{name} ({'skip-gram' if sg else 'CBOW'}{', hs' if hs else ''}, {dim}-d)"


def render_evaluation(results: dict[str, list[Any]], json_target: str | None) -> None:
    """The evaluation as a table on stderr, and as JSON where asked."""
    from rich.table import Table

    table = Table(title="evaluation", title_justify="left", show_edge=False)
    for column in ("file", "measure", "score", "evaluated", "OOV"):
        table.add_column(column, justify="left" if column in ("file", "measure") else "right")
    for a in results["analogies"]:
        table.add_row(
            a.file, "analogy accuracy", f"{a.accuracy:.4f}", f"{a.evaluated:,}/{a.questions:,}", f"{a.oov_rate:.1%}"
        )
    for p in results["pairs"]:
        table.add_row(p.file, "Spearman ρ", f"{p.spearman:.4f}", f"{p.pairs:,} pairs", f"{p.oov_rate:.1%}")
        table.add_row("", "Pearson r", f"{p.pearson:.4f}", "", "")
    stderr.print(table)
    if json_target is None:
        return
    from embedcli.formats.outputs import write_atomically
    from embedcli.train.evaluation import as_json

    data = orjson.dumps(as_json(results), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    write_atomically(data, None if json_target == "-" else json_target, ".json")


def print_estimate(outcome: TrainOutcome) -> None:
    """The memory estimate (gensim's; GloVe's by part), on stdout (it is what was asked for)."""
    memory = outcome.memory or {}
    lines = [f"vocabulary: {outcome.vocabulary:,} words ({plural(outcome.corpus.tokens, 'token')} read)"]
    lines += [f"{name}: {_bytes(size)}" for name, size in memory.items() if name != "total"]
    lines.append(f"total: {_bytes(memory.get('total', 0))}")
    sys.stdout.write("\n".join(lines) + "\n")


def _bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"
