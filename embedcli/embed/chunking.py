"""Token-aware chunks of long documents, cut by the model's own tokenizer at word boundaries.

A document is tokenized once (its token offsets are character offsets into the text), then cut into windows of at
most `size` tokens. Each window ends where a word ends: the next token is separated from it by whitespace. Inside
the last quarter of a window a paragraph break (a blank line) is preferred, then a sentence end, then a line break,
then the last word boundary that fits. A window starts at the earliest word boundary no more than `overlap` tokens
before the previous window's end, so consecutive chunks share at most `overlap` tokens (exactly `overlap` when a
word boundary falls there) and every token of the document lies in some chunk. Only a single "word" (a run with no
whitespace) longer than `size` tokens is cut inside; such cuts are counted.

Spans are Python string offsets into the document as read (byte-order mark removed, line ends as in the file):
`text[start:end]` is the chunk's text, which starts and ends on a token (never on whitespace).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from embedcli.errors import UsageError

# Part of a window, from its end, in which a stronger boundary (paragraph, sentence, line) wins over a later one.
PREFER_WITHIN = 4  # the last 1/4 of the window
SENTENCE_ENDS = frozenset(".!?…")
CLOSERS = frozenset("\"'”’)]»")


class Pool(str, Enum):
    """How chunk vectors become one vector per document."""

    mean = "mean"
    max = "max"
    first = "first"


@dataclass(frozen=True)
class ChunkOptions:
    """`--chunk SIZE --overlap OVERLAP --pool POOL`: SIZE tokens per chunk (special tokens and a prompt not
    counted), OVERLAP tokens shared by consecutive chunks (0 <= OVERLAP < SIZE), POOL None for one row per chunk."""

    size: int
    overlap: int = 0
    pool: Pool | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise UsageError(f"--chunk must be at least 1 token, not {self.size}")
        if not 0 <= self.overlap < self.size:
            raise UsageError(f"--overlap must be at least 0 and less than --chunk ({self.size}), not {self.overlap}")


class Span(NamedTuple):
    """One chunk of a document: its number (from 1), character span [start, end) and token count."""

    number: int
    start: int
    end: int
    tokens: int


class TokenSplitter:
    """Cuts texts into chunks of at most `options.size` tokens of `tokenizer` (a `tokenizers.Tokenizer`).

    `cut_words` counts chunks that had to end inside a word (a whitespace-free run longer than a chunk).
    """

    def __init__(self, tokenizer: Any, options: ChunkOptions) -> None:
        from tokenizers import Tokenizer

        # A copy: the backend's own tokenizer truncates at the model's limit, and a document must be read whole.
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.size = options.size
        self.overlap = options.overlap
        self.cut_words = 0

    def special_tokens(self) -> int:
        """How many tokens the model adds around every text ([CLS] and [SEP] for BERT)."""
        return len(self.tokenizer.encode("", add_special_tokens=True).ids)

    def count(self, text: str) -> int:
        """Tokens of `text` without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def spans(self, text: str) -> Iterator[Span]:
        """The chunks of `text`, in order; none for a text with no tokens."""
        import numpy as np

        offsets = self.tokenizer.encode(text, add_special_tokens=False).offsets
        n = len(offsets)
        if n == 0:
            return
        bounds = np.asarray(offsets, dtype=np.int64).reshape(n, 2)
        starts, ends = bounds[:, 0], bounds[:, 1]
        words, strong = _boundaries(text, starts, ends)
        start, number = 0, 1
        while True:
            last = min(start + self.size, n)
            end = last if last == n else self._end(words, strong, start, last)
            yield Span(number, int(starts[start]), int(ends[end - 1]), end - start)
            if end == n:
                return
            number += 1
            # The earliest word boundary that keeps the overlap within `overlap` tokens; always past `start`.
            at = int(np.searchsorted(words, max(end - self.overlap, start + 1)))
            start = int(words[at]) if at < len(words) and words[at] < end else end

    def _end(self, words: Any, strong: list[Any], start: int, last: int) -> int:
        import numpy as np

        floor = last - (last - start) // PREFER_WITHIN
        for kind in strong:  # paragraph, sentence, line: the latest of the strongest kind found near the end
            at = int(np.searchsorted(kind, last, side="right")) - 1
            if at >= 0 and kind[at] >= floor and kind[at] > start:
                return int(kind[at])
        at = int(np.searchsorted(words, last, side="right")) - 1
        if at >= 0 and words[at] > start:
            return int(words[at])
        self.cut_words += 1
        return last


def _boundaries(text: str, starts: Any, ends: Any) -> tuple[Any, list[Any]]:
    """Token indices i (1 <= i < n) where a chunk may end before token i: all word boundaries (whitespace between
    tokens i-1 and i), and those that are paragraph breaks, sentence ends and line breaks (each sorted)."""
    import numpy as np

    gaps = np.flatnonzero(starts[1:] > ends[:-1]) + 1
    # Offsets are whitespace-free at their edges, but a gap may hold characters a tokenizer drops (controls): keep
    # only gaps of whitespace, so no boundary falls between two halves of a word.
    words = np.asarray([i for i in gaps.tolist() if text[ends[i - 1] : starts[i]].isspace()], dtype=np.int64)
    paragraphs, sentences, lines = [], [], []
    for i in words.tolist():
        gap = text[ends[i - 1] : starts[i]]
        newlines = gap.count("\n") + gap.count("\r") - gap.count("\r\n")
        if newlines >= 2:
            paragraphs.append(i)
        elif _ends_sentence(text, int(ends[i - 1])):
            sentences.append(i)
        elif newlines:
            lines.append(i)
    strong = [np.asarray(kind, dtype=np.int64) for kind in (paragraphs, sentences, lines)]
    return words, strong


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the text before `end` ends a sentence: `.`, `!`, `?` or `…`, perhaps inside closing quotes."""
    tail = text[max(0, end - 4) : end].rstrip("".join(CLOSERS))
    return bool(tail) and tail[-1] in SENTENCE_ENDS


__all__ = ["ChunkOptions", "Pool", "Span", "TokenSplitter"]
