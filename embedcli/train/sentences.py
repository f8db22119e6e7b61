"""The training corpus: records read once, tokenized once, counted once, and kept for gensim's many passes.

gensim reads its corpus once to build the vocabulary and once per epoch. Inputs are read here exactly once
(stdin included): the token lists are kept in memory for gensim's iterable path, or written to a temporary
whitespace-tokenized file for its `corpus_file` path. The temporary file is removed by `close()`.

Plain-text inputs (txt, .gz, stdin) are read in blocks of whole lines, decoded at once and tokenized line by
line, with no Record per line (tokenize_text_files): the same token lists as through RecordReader, which
every other input (and Doc2Vec, which needs record ids) goes through.

gensim silently drops every token after the 10,000th of a text; here longer texts are split into
consecutive pieces of at most 10,000 tokens instead, and the number of texts split is reported.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TextIO

from embedcli.errors import InputError
from embedcli.formats import InputFormat, input_format_for
from embedcli.formats.outputs import new_temp_file
from embedcli.formats.sources import ByteSource, decoded_blocks
from embedcli.formats.text_inputs import RecordReader
from embedcli.records import Record
from embedcli.tokens import Tokenizer, make_line_tokenizer, make_tokenizer

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
    max_tokens: int | None = MAX_TOKENS,
) -> TokenCorpus:
    """Read and tokenize every record once. `spool`: write the pieces to a temporary file, one per line.
    Texts longer than `max_tokens` are cut into pieces (None: never; GloVe's windows must see whole lines).

    Raises InputError when no record has a token.
    """
    tokenize = make_tokenizer(tokenizer, pattern, lowercase)
    builder = _CorpusBuilder(spool, spool_dir, keep_ids=True, max_tokens=max_tokens)
    texts: list[list[str]] = []
    ids: list[str] = []
    try:
        with cyclic_gc_paused():
            for record in records:
                tokens = tokenize(record.text)
                if not tokens:
                    builder.stats.empty_texts += 1
                    continue
                texts.append(tokens)
                ids.append(record.id)
                if len(texts) == COUNT_BATCH:
                    builder.add(texts, ids)
                    texts, ids = [], []
            builder.add(texts, ids)
    except BaseException:
        builder.abort()
        raise
    return builder.finish()


def plain_text_reader(records: Iterable[Record]) -> RecordReader | None:
    """`records` when it is a RecordReader of plain-text inputs only (txt, .gz, stdin) in a codec that
    tokenize_text_files can decode block by block, else None."""
    if not isinstance(records, RecordReader) or records.texts or not records.decoding.blockwise:
        return None
    if any(input_format_for(path, records.input_format) is not InputFormat.txt for path in records.paths):
        return None
    return records


def tokenize_text_files(
    reader: RecordReader,
    tokenizer: Tokenizer,
    pattern: str | None = None,
    lowercase: bool = False,
    spool: bool = False,
    spool_dir: str | None = None,
    block_size: int = 1 << 20,
    max_tokens: int | None = MAX_TOKENS,
) -> TokenCorpus:
    """`tokenize_records(reader, ...)` for a plain_text_reader, without records: the same token lists, counts
    and statistics, and the same errors, from blocks of lines decoded at once and tokenized line by line.

    Record ids are not kept (`ids` and `tags` stay empty: only Doc2Vec needs them). The blank lines skipped
    are added to `reader.skipped_blank`, as reading through the reader would. Raises InputError.
    """
    lower_block, split_line = make_line_tokenizer(tokenizer, pattern, lowercase)
    # A user's --token-pattern might match whitespace: blank lines are dropped before tokenizing, as the
    # reader drops them. The other tokenizers find no token in a blank line, so those are only counted.
    drop_blank = tokenizer is Tokenizer.regex
    builder = _CorpusBuilder(spool, spool_dir, keep_ids=False, max_tokens=max_tokens)
    blank = 0
    try:
        with cyclic_gc_paused():
            for path in reader.paths:
                with ByteSource(path) as source:
                    for text in decoded_blocks(source, reader.decoding, block_size):
                        texts, block_blank, empty = _tokenize_block(text, lower_block, split_line, drop_blank)
                        blank += block_blank
                        builder.stats.empty_texts += empty
                        builder.add(texts)
    except BaseException:
        builder.abort()
        raise
    reader.skipped_blank += blank
    return builder.finish()


def _tokenize_block(
    text: str, lower_block: bool, split_line: Callable[[str], list[str]], drop_blank: bool
) -> tuple[list[list[str]], int, int]:
    """The non-empty token lists of a block's lines, the number of blank lines, and of lines with no token."""
    if lower_block:
        text = text.lower()
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # the empty string after the last line ending is not a line
    if drop_blank:
        kept = [line for line in lines if line.strip()]
        blank = len(lines) - len(kept)
        lines = kept
    else:
        blank = lines.count("") + sum(map(str.isspace, lines))
    token_lists = list(map(split_line, lines))
    texts = list(filter(None, token_lists))
    return texts, blank, len(token_lists) - len(texts) - (0 if drop_blank else blank)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector. Token lists hold only strings and make no reference cycles,
    so nothing is missed; while millions of them are built, the collector would otherwise scan everything
    built so far again and again (measured: a third of the tokenizing time on 1.85 M tokens)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# The pid named in spool files: None for this process; a child forked to read the corpus (train.background) names
# its parent, which adopts the file.
_spool_owner: int | None = None


def spool_for_parent() -> None:
    """Called in a forked child whose spool its parent will own and remove."""
    global _spool_owner
    _spool_owner = os.getppid()


def spool_file(directory: str | None) -> tuple[int, str]:
    """A new spool for a corpus too large to keep in memory: `embedcli-<pid>-<random>.part` (one naming for every
    temporary file), so a killed run's spool is swept by the next run (`outputs.sweep_stale`)."""
    return new_temp_file(directory, owner=_spool_owner)


class _CorpusBuilder:
    """Collects token lists, one per text, into a TokenCorpus: counted, cut into pieces of at most MAX_TOKENS
    tokens, kept in memory or spooled to a temporary file."""

    def __init__(self, spool: bool, spool_dir: str | None, keep_ids: bool, max_tokens: int | None = MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self.counts: Counter[str] = Counter()
        self.stats = CorpusStats()
        self.keep_ids = keep_ids
        self.ids: list[str] = []
        self.tags: list[int] = []
        self.sentences: list[list[str]] = []
        self.path: str | None = None
        self.out: TextIO | None = None
        if spool:
            fd, self.path = spool_file(spool_dir)
            self.out = os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def add(self, texts: list[list[str]], ids: list[str] | None = None) -> None:
        """Add non-empty token lists (with their record ids when the builder keeps ids)."""
        if not texts:
            return
        # One Counter.update over many texts costs far less than one per text.
        self.counts.update(chain.from_iterable(texts))
        self.stats.tokens += sum(map(len, texts))
        first_tag = self.stats.texts
        self.stats.texts += len(texts)
        if self.keep_ids:
            assert ids is not None and len(ids) == len(texts)
            self.ids += ids
        pieces = texts
        limit = self.max_tokens
        if limit is not None and max(map(len, texts)) > limit:
            pieces, tags = [], []
            for tag, tokens in enumerate(texts, start=first_tag):
                if len(tokens) > limit:
                    self.stats.split_texts += 1
                cut = [tokens[i : i + limit] for i in range(0, len(tokens), limit)]
                pieces += cut
                tags += [tag] * len(cut)
            if self.keep_ids:
                self.tags += tags
        elif self.keep_ids:
            self.tags += range(first_tag, first_tag + len(texts))
        self.stats.pieces += len(pieces)
        if self.out is not None:
            self.out.write("\n".join(map(" ".join, pieces)))
            self.out.write("\n")
        else:
            self.sentences += pieces

    def abort(self) -> None:
        if self.out is not None:
            self.out.close()
        if self.path is not None:
            os.unlink(self.path)

    def finish(self) -> TokenCorpus:
        """The corpus. Raises InputError (and removes the spooled file) when no text has a token."""
        if self.out is not None:
            self.out.close()
        stats = self.stats
        if not stats.tokens:
            self.abort()
            blank = f", {stats.empty_texts:,} text(s) without a token" if stats.empty_texts else ""
            raise InputError(
                f"empty corpus: no words to train on{blank}",
                hint="check the input, --text-field/--text-column and --tokenizer",
            )
        sentences = None if self.path is not None else self.sentences
        return TokenCorpus(self.counts, stats, self.ids, self.tags, sentences=sentences, path=self.path)


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
        fd, path = spool_file(os.path.dirname(corpus.path))
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
