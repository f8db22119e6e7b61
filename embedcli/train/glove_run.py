"""One `train --algorithm glove` run: read and tokenize once, vocabulary, co-occurrence counts, training, outputs.

GloVe passes over the corpus twice (words, then windows). The inputs are read once, stdin included: tokens
are spooled to a temporary file whose word counts give the vocabulary, and counting then streams that file,
so memory holds the vocabulary and the matrix's non-zeros, never the corpus. (`--tokenizer regex` keeps its
tokens in memory instead: a token may hold a space, which a whitespace-split file cannot carry.) Lines are
never cut: a window does not cross a line, and a line is whole however long.

Nothing is written before training has finished, except `--save-cooccur`, written once counting has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial

from embedcli.errors import UsageError
from embedcli.formats import STDIO
from embedcli.formats.outputs import AtomicTarget
from embedcli.records import Record
from embedcli.tokens import Tokenizer
from embedcli.train.background import read_while_importing
from embedcli.train.evaluation import evaluate
from embedcli.train.fit import EpochReport, TrainReport
from embedcli.train.glove import (
    Cooccurrence,
    count_cooccurrences,
    estimate_memory,
    load_cooccurrence,
    save_cooccurrence,
    train_glove,
    vocabulary_from_counts,
)
from embedcli.train.saving import VectorFileFormat, word_vectors, write_keyed_vectors
from embedcli.train.sentences import (
    CorpusStats,
    TokenCorpus,
    apply_phrases,
    plain_text_reader,
    tokenize_records,
    tokenize_text_files,
)
from embedcli.train.settings import Algorithm, CorpusMode, TrainSettings
from embedcli.train.targets import Targets, TrainOutcome, eval_files

_KERNELS = "embedcli.train.glove._kernels"  # imported (numba) while a forked child reads the inputs


def run_glove(
    records: Iterable[Record],
    settings: TrainSettings,
    targets: Targets,
    estimate_only: bool = False,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainOutcome:
    """Train GloVe on `records` as `settings` (resolved, algorithm glove) say and deliver to `targets`.

    `targets.save_cooccur` keeps the counted matrix. Raises EmbedcliError subclasses: UsageError for bad
    settings, InputError for an empty corpus, vocabulary or matrix.
    """
    _check_targets(settings, targets)
    started = time.perf_counter()
    corpus = read_glove_corpus(records, settings)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(corpus.close)
        phrase_count = 0
        if settings.phrases:
            corpus, phrase_count = apply_phrases(corpus, settings.phrases_min_count, settings.phrases_threshold)
            cleanup.callback(corpus.close)
        outcome = TrainOutcome(settings, corpus.stats, phrases=phrase_count)
        outcome.read_seconds = time.perf_counter() - started
        assert settings.min_count is not None and settings.window is not None, "settings must be resolved"
        vocabulary = vocabulary_from_counts(
            corpus.counts, settings.min_count, settings.max_vocab_size, settings.max_final_vocab
        )
        outcome.vocabulary = len(vocabulary)
        glove = settings.glove_settings()
        glove.check()
        if estimate_only:
            outcome.memory = _with_total(estimate_memory(vocabulary, glove, settings.window))
            return outcome
        started = time.perf_counter()
        matrix = count_cooccurrences(corpus, vocabulary, settings.window)
        outcome.count_seconds = time.perf_counter() - started
    if targets.save_cooccur is not None:
        with AtomicTarget(targets.save_cooccur, ".npz") as atomic:
            save_cooccurrence(matrix, atomic.path)
        outcome.written.append(targets.save_cooccur)
        if targets.output is None and not (targets.eval or targets.eval_analogies or targets.eval_pairs):
            outcome.cooccurrences = len(matrix)
            return outcome  # counting was all that was asked for
    return _train(matrix, outcome, targets, on_epoch)


def train_from_cooccurrence(
    path: str,
    settings: TrainSettings,
    targets: Targets,
    estimate_only: bool = False,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainOutcome:
    """Train GloVe on a matrix saved with `--save-cooccur` (no input read): its vocabulary and window are
    the saved ones. Raises InputError for a file that is not such a matrix, UsageError for bad settings."""
    _check_targets(settings, targets)
    if targets.save_cooccur is not None:
        raise UsageError("--save-cooccur with --cooccur would only copy the matrix")
    matrix = load_cooccurrence(path)
    settings = replace(settings, window=matrix.window)
    outcome = TrainOutcome(settings, CorpusStats(), cooccurrence_file=path)
    outcome.vocabulary = len(matrix.vocabulary)
    glove = settings.glove_settings()
    glove.check()
    if estimate_only:
        outcome.memory = _with_total(estimate_memory(matrix.vocabulary, glove, matrix.window, records=len(matrix)))
        return outcome
    return _train(matrix, outcome, targets, on_epoch)


def read_glove_corpus(records: Iterable[Record], settings: TrainSettings) -> TokenCorpus:
    """Tokenize every record once into a spooled file (in memory for `--tokenizer regex`), lines never cut."""
    assert settings.tokenizer is not None, "settings must be resolved"
    spool = settings.tokenizer is not Tokenizer.regex
    reader = plain_text_reader(records)
    if reader is None:
        return tokenize_records(
            records, settings.tokenizer, settings.token_pattern, settings.lowercase, spool, max_tokens=None
        )
    read = partial(
        tokenize_text_files, reader, settings.tokenizer, settings.token_pattern, settings.lowercase, max_tokens=None
    )
    return read_while_importing(read, reader, _KERNELS, spool) if spool else read(False)


def _train(
    matrix: Cooccurrence,
    outcome: TrainOutcome,
    targets: Targets,
    on_epoch: Callable[[EpochReport], None] | None,
) -> TrainOutcome:
    settings = outcome.settings
    glove = settings.glove_settings()
    outcome.cooccurrences = len(matrix)
    costs: list[float | None] = []
    clock = [time.perf_counter()]

    def report(epoch: int, cost: float) -> None:
        now = time.perf_counter()
        costs.append(cost)
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, glove.epochs, now - clock[0], len(matrix), None, cost=cost))
        clock[0] = now

    started = time.perf_counter()
    vectors = train_glove(matrix, glove, report)
    seconds = time.perf_counter() - started
    visited = len(matrix) * glove.epochs
    outcome.report = TrainReport(
        len(matrix.vocabulary), outcome.corpus.tokens, glove.epochs, seconds, visited, visited, CorpusMode.auto, costs
    )
    kv = word_vectors(matrix.vocabulary.words, vectors, matrix.vocabulary.counts)
    outcome.model = kv
    if targets.eval or targets.eval_analogies or targets.eval_pairs:
        outcome.evaluation = evaluate(kv, *eval_files(targets))
    if targets.output is not None:
        fmt = targets.output_format or VectorFileFormat.glove
        outcome.written += write_keyed_vectors(kv, targets.output, fmt, outcome.metadata(), words=True)
    return outcome


def _check_targets(settings: TrainSettings, targets: Targets) -> None:
    if settings.algorithm is not Algorithm.glove:
        raise UsageError(f"run_glove needs --algorithm glove, not {settings.algorithm.value}")
    if targets.save_model is not None:
        raise UsageError("--save-model keeps a gensim model; GloVe has none", hint="keep the matrix: --save-cooccur")
    if targets.save_cooccur == STDIO:
        raise UsageError("--save-cooccur names a file, not stdout")


def _with_total(parts: dict[str, int]) -> dict[str, int]:
    return {**parts, "total": sum(parts.values())}


__all__ = ["read_glove_corpus", "run_glove", "train_from_cooccurrence"]
