"""The training corpus: records read once, tokenized once, counted once, and kept for gensim's many passes.

gensim reads its corpus once to build the vocabulary and once per epoch. Inputs are read here exactly once
(stdin included): the token lists are kept in memory for gensim's iterable path, or written to a temporary
whitespace-tokenized file for its `corpus_file` path. The temporary file is removed by `close()`.

gensim silently drops every token after the 10,000th of a text; here longer texts are split into
consecutive pieces of at most 10,000 tokens instead, and the number of texts split is reported.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from embedcli.errors import InputError
from embedcli.records import Record
from embedcli.tokenize import Tokenizer, make_tokenizer

MAX_TOKENS = 10_000  # gensim's MAX_WORDS_IN_BATCH: it truncates longer texts
COUNT_BATCH = 4096


@dataclass
class CorpusStats:
    texts: int = 0  # records that had at least one token
    pieces: int = 0  # token lists handed to gensim (texts, plus the extra pieces of split texts)
    tokens: int = 0
    split_texts: int = 0  # texts longer than MAX_TOKENS, split into pieces
    empty_texts: int = 0  # records with text but no token (e.g. only punctuation under `simple`)


@dataclass
class TokenCorpus:
    """Token lists with their word counts. Exactly one of `sentences` (in memory) or `path` (spooled) is set.

    `tags[i]` is the index of the record piece i came from (Doc2Vec trains one vector per record); `ids[k]`
    is record k's id.
    """

    counts: Counter[str]
    stats: CorpusStats
    ids: list[str]
    tags: list[int]
    sentences: list[list[str]] | None = None
    path: str | None = None
    progress: Callable[[int], None] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[list[str]]:
        report, every = self.progress, 20_000
        if self.sentences is not None:
            if report is None:
                yield from self.sentences
                return
            for i, sentence in enumerate(self.sentences, start=1):
                if i % every == 0:
                    report(i)
                yield sentence
            return
        assert self.path is not None
        with open(self.path, encoding="utf-8") as f:
            for i, line in enumerate(f, start=1):
                if report is not None and i % every == 0:
                    report(i)
                yield line.split()

    def tagged(self) -> Iterable[Any]:
        """The pieces as gensim TaggedDocuments, each tagged with its record's index."""
        return _Tagged(self)

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> TokenCorpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Tagged:
    def __init__(self, corpus: TokenCorpus) -> None:
        self.corpus = corpus

    def __iter__(self) -> Iterator[Any]:
        from gensim.models.doc2vec import TaggedDocument

        for tag, words in zip(self.corpus.tags, self.corpus, strict=True):
            yield TaggedDocument(words, [tag])


def tokenize_records(
    records: Iterable[Record],
    tokenizer: Tokenizer,
    pattern: str | None = None,
    lowercase: bool = False,
    spool: bool = False,
    spool_dir: str | None = None,
) -> TokenCorpus:
    """Read and tokenize every record once. `spool`: write the pieces to a temporary file, one per line.

    Raises InputError when no record has a token.
    """
    tokenize = make_tokenizer(tokenizer, pattern, lowercase)
    counts: Counter[str] = Counter()
    stats = CorpusStats()
    ids: list[str] = []
    tags: list[int] = []
    sentences: list[list[str]] = []
    # Counted in batches: one Counter.update over many texts costs far less than one per text.
    batch: list[list[str]] = []
    out = None
    path = None
    if spool:
        fd, path = tempfile.mkstemp(prefix="embedcli-corpus-", suffix=".txt", dir=spool_dir)
        out = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    try:
        for record in records:
            tokens = tokenize(record.text)
            if not tokens:
                stats.empty_texts += 1
                continue
            tag = len(ids)
            ids.append(record.id)
            stats.texts += 1
            stats.tokens += len(tokens)
            batch.append(tokens)
            if len(batch) == COUNT_BATCH:
                counts.update(chain.from_iterable(batch))
                batch.clear()
            if len(tokens) > MAX_TOKENS:
                stats.split_texts += 1
                pieces = [tokens[i : i + MAX_TOKENS] for i in range(0, len(tokens), MAX_TOKENS)]
            else:
                pieces = [tokens]
            for piece in pieces:
                tags.append(tag)
                if out is not None:
                    out.write(" ".join(piece) + "\n")
                else:
                    sentences.append(piece)
        counts.update(chain.from_iterable(batch))
        stats.pieces = len(tags)
        if out is not None:
            out.close()
    except BaseException:
        if out is not None:
            out.close()
        if path is not None:
            os.unlink(path)
        raise
    corpus = TokenCorpus(counts, stats, ids, tags, sentences=None if spool else sentences, path=path)
    if not stats.tokens:
        corpus.close()
        blank = f", {stats.empty_texts:,} text(s) without a token" if stats.empty_texts else ""
        raise InputError(
            f"empty corpus: no words to train on{blank}",
            hint="check the input, --text-field/--text-column and --tokenizer",
        )
    return corpus


def apply_phrases(corpus: TokenCorpus, min_count: int, threshold: float) -> tuple[TokenCorpus, int]:
    """Join common bigrams (gensim Phrases) into single tokens `a_b`. Returns the new corpus and phrase count.

    The corpus is rewritten (in memory, or to a new temporary file) and recounted.
    """
    from gensim.models.phrases import Phrases

    phrases = Phrases(corpus, min_count=min_count, threshold=threshold).freeze()
    counts: Counter[str] = Counter()
    if corpus.path is None:
        sentences = []
        for sentence in corpus:
            joined = phrases[sentence]
            counts.update(joined)
            sentences.append(joined)
        new = TokenCorpus(counts, corpus.stats, corpus.ids, corpus.tags, sentences=sentences)
    else:
        fd, path = tempfile.mkstemp(prefix="embedcli-corpus-", suffix=".txt", dir=os.path.dirname(corpus.path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for sentence in corpus:
                joined = phrases[sentence]
                counts.update(joined)
                out.write(" ".join(joined))
                out.write("\n")
        new = TokenCorpus(counts, corpus.stats, corpus.ids, corpus.tags, path=path)
        corpus.close()
    new.stats.tokens = sum(counts.values())
    return new, len(phrases.phrasegrams)
