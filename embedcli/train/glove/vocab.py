"""The GloVe vocabulary: which words get vectors, in the order the Stanford tool (`vocab_count`) writes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from embedcli.errors import InputError, UsageError


@dataclass(frozen=True)
class Vocabulary:
    """Words by count, most frequent first; ties in the order of `c_order`, as `vocab_count` sorts them.

    `words[i]` has id `i` in the co-occurrence matrix and row `i` in the trained vectors; `counts` is int64,
    shape `(len(words),)`, the corpus count of each word.
    """

    words: list[str]
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        """The id of each word."""
        return {word: i for i, word in enumerate(self.words)}


def build_vocabulary(
    lines: Iterable[Sequence[str]],
    min_count: int = 5,
    max_vocab: int | None = None,
    max_final_vocab: int | None = None,
) -> Vocabulary:
    """Count the tokens of `lines` (one token list per line) and keep the words `vocab_count` keeps.

    Rules of the Stanford tool: words are sorted by count descending, ties by `c_order`; the `max_vocab` most
    frequent are kept, then those seen fewer than `min_count` times are dropped. (For ties at the `max_vocab`
    cut the C tool keeps an arbitrary subset, qsort being unstable; here the first in `c_order`.)
    `max_final_vocab` is gensim's rule, shared with `embedcli train`'s other algorithms: the effective min
    count rises until at most that many words remain, so words tied at the cut are all dropped.

    Raises UsageError on a non-positive limit and InputError when no word is kept.
    """
    counter: Counter[str] = Counter()
    for tokens in lines:
        counter.update(tokens)
    return vocabulary_from_counts(counter, min_count, max_vocab, max_final_vocab)


def vocabulary_from_counts(
    counts: Mapping[str, int],
    min_count: int = 5,
    max_vocab: int | None = None,
    max_final_vocab: int | None = None,
) -> Vocabulary:
    """`build_vocabulary` from word counts already made (the counts of the lines it would read)."""
    if min_count < 1:
        raise UsageError(f"--min-count must be at least 1, not {min_count}")
    for name, limit in (("--max-vocab", max_vocab), ("--max-final-vocab", max_final_vocab)):
        if limit is not None and limit < 1:
            raise UsageError(f"{name} must be at least 1, not {limit}")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], c_order(item[0])))
    if max_vocab is not None:
        ranked = ranked[:max_vocab]
    floor = min_count
    if max_final_vocab is not None and len(ranked) > max_final_vocab:
        floor = max(floor, ranked[max_final_vocab][1] + 1)
    kept = [item for item in ranked if item[1] >= floor]
    if not kept:
        raise InputError(
            f"no word occurs at least {floor} times ({len(counts)} distinct words read)",
            hint="lower --min-count, or give more text",
        )
    return Vocabulary([word for word, _ in kept], np.array([count for _, count in kept], dtype=np.int64))


# C's strcmp on a platform where char is signed (x86): bytes >= 0x80 sort before ASCII and before the end
# of the string. Shifting every byte by 128 and ending with the shifted terminator gives that order in Python.
_SIGNED = bytes((b + 128) % 256 for b in range(256))


def c_order(word: str) -> bytes:
    """A sort key giving the order of the Stanford tool's `scmp` on the UTF-8 bytes (signed char, x86 and gcc).

    So "été" sorts before "abc", and "abcé" before "abc"; ASCII words keep their usual order.
    """
    return word.encode("utf-8").translate(_SIGNED) + b"\x80"
