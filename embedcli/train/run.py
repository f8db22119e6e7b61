"""One `train` run, start to end: read and tokenize once, build the vocabulary, train, write, evaluate.

Nothing is written before training has finished: an empty corpus, an empty vocabulary or a bad input fails
with nothing left behind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from embedcli.errors import UsageError
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader
from embedcli.records import Record
from embedcli.tokens import Tokenizer
from embedcli.train.background import read_while_importing
from embedcli.train.evaluation import evaluate
from embedcli.train.fit import (
    EpochReport,
    build_vocabulary,
    choose_corpus_mode,
    estimate_memory,
    new_model,
    train_model,
)
from embedcli.train.saving import VectorFileFormat, save_model, write_vectors
from embedcli.train.sentences import (
    TokenCorpus,
    apply_phrases,
    plain_text_reader,
    tokenize_records,
    tokenize_text_files,
)
from embedcli.train.settings import Algorithm, CorpusMode, TrainSettings
from embedcli.train.targets import Targets, TrainOutcome, eval_files


def train_inputs(
    paths: list[str],
    settings: TrainSettings,
    targets: Targets,
    estimate_only: bool = False,
    resume: Any = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    cooccur: str | None = None,
) -> TrainOutcome:
    """`run_training` on the records of the files at `paths` (`-`: stdin), read as `settings` say (format,
    text and id fields or columns, encoding). Raises EmbedcliError subclasses: UsageError for an unreadable
    input or bad settings, InputError for a bad or empty corpus.

    `cooccur`: GloVe only, train from this saved co-occurrence matrix; `paths` must then be empty."""
    if cooccur is not None:
        from embedcli.train.glove_run import train_from_cooccurrence

        if settings.algorithm is not Algorithm.glove:
            raise UsageError("--cooccur is a GloVe option", hint="add --algorithm glove")
        if paths:
            raise UsageError("--cooccur trains from a saved matrix: give no inputs")
        return train_from_cooccurrence(cooccur, settings.resolved(), targets, estimate_only, on_epoch)
    reader = RecordReader(
        paths,
        decoding=Decoding(settings.encoding, settings.errors),
        input_format=settings.input_format,
        fields=FieldSpec(settings.text_field, settings.id_field, settings.text_column, settings.id_column),
    )
    outcome = run_training(reader, settings, targets, estimate_only, resume, on_epoch)
    outcome.skipped_blank = reader.skipped_blank
    return outcome


def run_training(
    records: Iterable[Record],
    settings: TrainSettings,
    targets: Targets,
    estimate_only: bool = False,
    resume: Any = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainOutcome:
    """Train on `records` as `settings` say and deliver to `targets`. Raises EmbedcliError subclasses.

    `resume`: a gensim model loaded from `--save-model` to go on training (its own knobs are kept; new words
    that pass its --min-count join the vocabulary). Doc2Vec models cannot take new documents this way.
    """
    if resume is not None:  # the saved model decides the algorithm
        name = type(resume).__name__.lower()
        if name not in {a.value for a in Algorithm}:
            raise UsageError(f"cannot continue training a {type(resume).__name__}")
        settings = replace(settings, algorithm=Algorithm(name))
    settings = settings.resolved()
    if settings.algorithm is Algorithm.glove:
        from embedcli.train.glove_run import run_glove

        return run_glove(records, settings, targets, estimate_only, on_epoch)
    if targets.save_cooccur is not None:
        raise UsageError("--save-cooccur is a GloVe option", hint="add --algorithm glove")
    started = time.perf_counter()
    corpus = read_corpus(records, settings)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(corpus.close)
        phrase_count = 0
        if settings.phrases:
            corpus, phrase_count = apply_phrases(corpus, settings.phrases_min_count, settings.phrases_threshold)
            cleanup.callback(corpus.close)  # the rewritten corpus has a spooled file of its own
        outcome = TrainOutcome(settings, corpus.stats, phrases=phrase_count)
        outcome.read_seconds = time.perf_counter() - started
        if resume is None:
            model = new_model(settings)
            build_vocabulary(model, corpus, settings)
        else:
            model = continue_from(resume, corpus, settings)
        outcome.vocabulary = len(model.wv)
        if estimate_only:
            outcome.memory = estimate_memory(model)
            return outcome
        outcome.report = train_model(model, corpus, settings, on_epoch)
        outcome.model = model
        if targets.eval or targets.eval_analogies or targets.eval_pairs:
            outcome.evaluation = evaluate(model.wv, *eval_files(targets))
        if targets.output is not None:
            fmt = targets.output_format
            outcome.written += write_vectors(model, targets.output, fmt, corpus.ids, outcome.metadata())  # type: ignore[arg-type]
        if targets.save_model is not None:
            save_model(model, targets.save_model, outcome.metadata())
            outcome.written.append(targets.save_model)
    return outcome


def continue_from(model: Any, corpus: TokenCorpus, settings: TrainSettings) -> Any:
    """Prepare a saved model for more training on `corpus`: update its vocabulary, take the run's workers."""
    if settings.algorithm is Algorithm.doc2vec:
        raise UsageError("continuing a Doc2Vec model on new documents is not supported", hint="train a new one")
    model.workers = settings.workers
    if settings.epochs is not None:
        model.epochs = settings.epochs
    model.build_vocab_from_freq(corpus.counts, corpus_count=corpus.stats.pieces, update=True)
    model.corpus_total_words = corpus.stats.tokens
    return model


def read_corpus(records: Iterable[Record], settings: TrainSettings) -> TokenCorpus:
    """Tokenize every record once, spooled to a file when gensim will read it through `corpus_file`.

    Plain-text inputs go through the block reader (no Record per line) unless record ids are needed (Doc2Vec).
    """
    assert settings.tokenizer is not None, "settings must be resolved"
    spool = choose_corpus_mode(settings) is CorpusMode.file
    reader = plain_text_reader(records) if settings.algorithm is not Algorithm.doc2vec else None
    if reader is not None:
        read = partial(tokenize_text_files, reader, settings.tokenizer, settings.token_pattern, settings.lowercase)
        if settings.tokenizer is Tokenizer.regex and not spool:
            return read(spool)  # a token may hold a space: it must not round-trip through a spooled file
        # Read in a child process while gensim is imported here (training.background).
        return read_while_importing(read, reader, "gensim.models", spool)
    return tokenize_records(records, settings.tokenizer, settings.token_pattern, settings.lowercase, spool)


__all__ = ["Targets", "TrainOutcome", "VectorFileFormat", "run_training", "train_inputs"]
