"""Training a gensim model on a TokenCorpus: vocabulary, memory estimate, epochs with honest per-epoch reports.

gensim's `running_training_loss` is a float32 sum over the whole run, so late epochs lose precision. Worse,
each worker thread reads the model's sum when a job starts and writes it back when the job ends, so with
several workers the threads overwrite each other's work (measured: 3 workers reported a third of the loss of
1 worker). Here each job runs against a thin view of the model that keeps the job's own loss, and the jobs'
losses are added under a lock into a per-epoch float: every epoch's loss is whole, whatever the workers.
Only Word2Vec computes a loss (gensim's FastText and Doc2Vec do not).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embedcli.errors import InputError, UsageError
from embedcli.tokens import Tokenizer
from embedcli.train.sentences import TokenCorpus
from embedcli.train.settings import Algorithm, CorpusMode, TrainSettings

FILE_PATH_MIN_WORKERS = 3  # from this many workers on, corpus_file is faster (bench/train-measurements.md)


@dataclass
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    seconds: float
    words: int  # raw words gensim went through this epoch
    loss: float | None  # this epoch's loss (Word2Vec only)
    done_pieces: int = 0  # within-epoch progress (iterable path only), pieces handed to gensim so far
    cost: float | None = None  # GloVe: the epoch's mean cost per co-occurrence record (then `words` are records)

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else 0.0


@dataclass
class TrainReport:
    vocabulary: int
    tokens: int
    epochs: int
    seconds: float  # training only (vocabulary excluded)
    trained_words: int  # words gensim trained on, after downsampling, all epochs
    raw_words: int  # words gensim went through, all epochs
    corpus_mode: CorpusMode
    losses: list[float | None]

    @property
    def words_per_second(self) -> float:
        return self.raw_words / self.seconds if self.seconds > 0 else 0.0


def choose_corpus_mode(settings: TrainSettings) -> CorpusMode:
    """The gensim path for `settings`: as asked, else the faster as measured (bench/train-measurements.md)."""
    if settings.corpus_mode is not CorpusMode.auto:
        return settings.corpus_mode
    # Doc2Vec's corpus_file mode tags documents by line, which split texts would break; a regex token may
    # hold a space, which a whitespace-split file cannot carry.
    if settings.algorithm is Algorithm.doc2vec or settings.tokenizer is Tokenizer.regex:
        return CorpusMode.iterable
    if settings.workers < FILE_PATH_MIN_WORKERS:
        return CorpusMode.iterable
    return CorpusMode.file


def new_model(settings: TrainSettings) -> Any:
    """An untrained gensim model for `settings` (no vocabulary yet)."""
    if settings.algorithm is Algorithm.fasttext:
        from gensim.models import FastText

        return FastText(**settings.gensim_kwargs())
    if settings.algorithm is Algorithm.doc2vec:
        from gensim.models import Doc2Vec

        return Doc2Vec(**settings.gensim_kwargs())
    from gensim.models import Word2Vec

    return Word2Vec(**settings.gensim_kwargs())


def build_vocabulary(model: Any, corpus: TokenCorpus, settings: TrainSettings) -> None:
    """Build the model's vocabulary from the counts made while tokenizing (no extra pass over the corpus).

    Doc2Vec also needs its document tags, and `--max-vocab-size` prunes while scanning: both go through
    gensim's own scan. Raises InputError when no word survives `--min-count`.
    """
    if settings.algorithm is Algorithm.doc2vec:
        model.build_vocab(corpus_iterable=corpus.tagged())
    elif settings.max_vocab_size is not None:
        model.build_vocab(corpus_iterable=corpus)
    else:
        # Same insertion order as gensim's own scan, so the vocabulary (ties included) comes out identical.
        model.build_vocab_from_freq(corpus.counts, corpus_count=corpus.stats.pieces)
        model.corpus_total_words = corpus.stats.tokens
    if len(model.wv) == 0:
        top, n = corpus.counts.most_common(1)[0]
        raise InputError(
            f"empty vocabulary: no word occurs at least {model.min_count} times (most frequent: '{top}', {n}x)",
            hint="lower --min-count, or train on more text",
        )


def estimate_memory(model: Any) -> dict[str, int]:
    """gensim's estimate of the bytes the model needs, by part, for the vocabulary already built."""
    import logging

    # gensim logs the report at INFO; the numbers are returned, so keep its logger quiet.
    logging.getLogger("gensim").setLevel(logging.WARNING)
    return {k: int(v) for k, v in model.estimate_memory().items()}


def train_model(
    model: Any,
    corpus: TokenCorpus,
    settings: TrainSettings,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainReport:
    """Train `model` (vocabulary built) for its epochs, calling `on_epoch` during and after each epoch."""
    mode = choose_corpus_mode(settings)
    if mode is CorpusMode.file and corpus.path is None:
        raise UsageError("the corpus was kept in memory; the file path needs it spooled")  # a programming error
    if mode is CorpusMode.file and settings.algorithm is Algorithm.doc2vec and corpus.stats.split_texts:
        raise UsageError(
            "Doc2Vec's corpus_file path tags documents by line, so texts over 10,000 tokens cannot be split there",
            hint="use --corpus-mode iterable",
        )
    tracker = _EpochTracker(model, settings, corpus, on_epoch)
    kwargs: dict[str, Any] = {
        "epochs": model.epochs,
        "callbacks": [tracker],
        "compute_loss": settings.compute_loss and settings.algorithm is Algorithm.word2vec,
    }
    if mode is CorpusMode.file:
        kwargs.update(corpus_file=corpus.path, total_words=corpus.stats.tokens)
        if settings.algorithm is Algorithm.doc2vec:
            kwargs["total_examples"] = corpus.stats.pieces
    else:
        kwargs.update(
            corpus_iterable=corpus.tagged() if settings.algorithm is Algorithm.doc2vec else corpus,
            total_examples=corpus.stats.pieces,
        )
    if on_epoch is not None and mode is CorpusMode.iterable:
        corpus.progress = tracker.within_epoch
    if kwargs["compute_loss"]:
        _count_loss_per_job(model, tracker)
    start = time.perf_counter()
    try:
        counts = model.train(**kwargs)  # Doc2Vec returns None; Word2Vec and FastText (trained, raw) words
    finally:
        corpus.progress = None
        # The wrappers are instance attributes: remove them so the model pickles (--save-model) as gensim's own.
        for name in ("_do_train_job", "_do_train_epoch"):
            model.__dict__.pop(name, None)
    seconds = time.perf_counter() - start
    raw = corpus.stats.tokens * model.epochs
    trained, raw = counts if counts is not None else (raw, raw)
    return TrainReport(
        vocabulary=len(model.wv),
        tokens=corpus.stats.tokens,
        epochs=model.epochs,
        seconds=seconds,
        trained_words=int(trained),
        raw_words=int(raw),
        corpus_mode=mode,
        losses=tracker.losses,
    )


class _JobView:
    """The model as one training job sees it: every attribute is the model's, except the loss, kept per job."""

    def __init__(self, model: Any) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "running_training_loss", 0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "running_training_loss":
            object.__setattr__(self, name, value)
        else:
            setattr(self._model, name, value)


def _count_loss_per_job(model: Any, tracker: _EpochTracker) -> None:
    """Route each of gensim's training jobs (iterable path) and thread-epochs (corpus_file path) through a
    _JobView, and add its loss to the tracker under a lock."""
    lock = threading.Lock()
    cls = type(model)

    def run(method: Any, *args: Any, **kwargs: Any) -> Any:
        view = _JobView(model)
        result = method(view, *args, **kwargs)
        with lock:
            tracker.epoch_loss += float(view.running_training_loss)
        return result

    model._do_train_job = lambda *a, **k: run(cls._do_train_job, *a, **k)
    model._do_train_epoch = lambda *a, **k: run(cls._do_train_epoch, *a, **k)


class _EpochTracker:
    """A gensim callback (duck-typed: gensim calls these methods, it checks no base class) that times each
    epoch and takes that epoch's own loss."""

    def __init__(
        self, model: Any, settings: TrainSettings, corpus: TokenCorpus, on_epoch: Callable[[EpochReport], None] | None
    ) -> None:
        self.on_epoch = on_epoch
        self.with_loss = settings.compute_loss and settings.algorithm is Algorithm.word2vec
        self.epochs = model.epochs
        self.words_per_epoch = corpus.stats.tokens
        self.epoch = 0
        self.started = 0.0
        self.losses: list[float | None] = []
        self.epoch_loss = 0.0  # added to by every job of the current epoch (see _count_loss_per_job)

    def on_train_begin(self, model: Any) -> None:
        pass

    def on_train_end(self, model: Any) -> None:
        pass

    def on_epoch_begin(self, model: Any) -> None:
        self.epoch += 1
        self.started = time.perf_counter()
        self.epoch_loss = 0.0

    def within_epoch(self, done_pieces: int) -> None:
        if self.on_epoch is not None and self.epoch:
            seconds = time.perf_counter() - self.started
            self.on_epoch(EpochReport(self.epoch - 1, self.epochs, seconds, 0, None, done_pieces))

    def on_epoch_end(self, model: Any) -> None:
        loss = self.epoch_loss if self.with_loss else None
        self.losses.append(loss)
        if self.on_epoch is not None:
            seconds = time.perf_counter() - self.started
            self.on_epoch(EpochReport(self.epoch, self.epochs, seconds, self.words_per_epoch, loss))
