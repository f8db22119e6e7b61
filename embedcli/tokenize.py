"""Splitting text into words, shared by `train` (to learn vectors) and the word-vector backend (to use them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum


class Tokenizer(str, Enum):
    simple = "simple"  # gensim's simple_preprocess: lowercase alphabetic tokens of 2 to 15 letters
    whitespace = "whitespace"  # split on whitespace, keep everything (item ids, pre-tokenized text)
    regex = "regex"  # tokens are the matches of --token-pattern
    words = "words"  # Unicode word runs (letters, digits, inner apostrophes), case kept


WORD_PATTERN = r"\w+(?:['’]\w+)*"
# gensim.utils.PAT_ALPHABETIC and simple_preprocess's bounds, restated so tokenizing needs no gensim import.
# Without capturing groups, so findall returns the matches themselves (twice as fast as finditer + group).
_ALPHABETIC = re.compile(r"(?:(?!\d)\w)+", re.UNICODE)


def make_tokenizer(kind: Tokenizer, pattern: str | None = None, lowercase: bool = False) -> Callable[[str], list[str]]:
    """A function from text to its list of tokens."""
    if kind is Tokenizer.simple:
        return simple_preprocess
    if kind is Tokenizer.whitespace:
        split: Callable[[str], list[str]] = str.split
    else:
        compiled = re.compile(pattern if kind is Tokenizer.regex and pattern else WORD_PATTERN)
        split = compiled.findall
    if lowercase:
        return lambda text: split(text.lower())
    return split


def simple_preprocess(text: str) -> list[str]:
    """Same tokens as gensim.utils.simple_preprocess(text) (deacc=False, min_len=2, max_len=15).

    Like gensim's, it drops tokens that start with an underscore.
    """
    return [t for t in _ALPHABETIC.findall(text.lower()) if 2 <= len(t) <= 15 and t[0] != "_"]
