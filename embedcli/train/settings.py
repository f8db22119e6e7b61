"""What a training run is asked to do: the algorithm, gensim's knobs (with gensim's defaults), presets.

Every knob left as None means "gensim's default for this algorithm", so `--epochs` is 5 for Word2Vec and
FastText but 10 for Doc2Vec, exactly as when gensim is called directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from embedcli.errors import UsageError
from embedcli.tokens import Tokenizer


class Algorithm(str, Enum):
    word2vec = "word2vec"
    fasttext = "fasttext"
    doc2vec = "doc2vec"


class Preset(str, Enum):
    text = "text"  # natural-language text: simple tokenizer, gensim's defaults
    items = "items"  # item2vec: one session of item ids per line, ids kept as written


class CorpusMode(str, Enum):
    """gensim's two ways in: an iterable of token lists, or `corpus_file` (a tokenized file read in C)."""

    auto = "auto"
    iterable = "iterable"
    file = "file"


# The knobs a preset sets when the user did not set them. `items` follows item2vec (Barkan & Koenigstein,
# 2016): skip-gram over sessions, every item kept, ids kept exactly as written.
PRESETS: dict[Preset, dict[str, Any]] = {
    Preset.text: {"tokenizer": Tokenizer.simple},
    Preset.items: {"tokenizer": Tokenizer.whitespace, "sg": True, "min_count": 1, "window": 10},
}

# gensim's own defaults (Word2Vec/FastText/Doc2Vec share them unless noted), shown in --help.
GENSIM_DEFAULTS: dict[str, Any] = {
    "dim": 100,
    "window": 5,
    "min_count": 5,
    "sample": 1e-3,
    "negative": 5,
    "alpha": 0.025,
    "min_alpha": 0.0001,
    "epochs": 5,
    "workers": 3,
    "seed": 1,
    "min_n": 3,
    "max_n": 6,
    "bucket": 2_000_000,
}


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's `hash` of a str changes with PYTHONHASHSEED).

    gensim takes it as `hashfxn` for seeding vectors; it is module-level so a saved model can be unpickled.
    """
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class TrainSettings:
    """One training run. None means gensim's default (or the preset's)."""

    algorithm: Algorithm = Algorithm.word2vec
    preset: Preset = Preset.text
    tokenizer: Tokenizer | None = None
    token_pattern: str | None = None
    lowercase: bool = False
    phrases: bool = False
    phrases_min_count: int = 5
    phrases_threshold: float = 10.0
    dim: int = 100
    window: int | None = None
    min_count: int | None = None
    max_vocab_size: int | None = None
    max_final_vocab: int | None = None
    sample: float | None = None
    sg: bool | None = None
    hs: bool = False
    negative: int | None = None
    alpha: float | None = None
    min_alpha: float | None = None
    epochs: int | None = None
    workers: int = 3
    seed: int = 1
    shrink_windows: bool = True
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000
    dbow: bool = False
    dbow_words: bool = False
    corpus_mode: CorpusMode = CorpusMode.auto
    compute_loss: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> TrainSettings:
        """These settings with the preset's values filled in where the user left a knob unset."""
        filled = {k: v for k, v in PRESETS[self.preset].items() if getattr(self, k) is None}
        settings = replace(self, **filled)
        settings.check()
        return settings

    def check(self) -> None:
        if self.tokenizer is Tokenizer.regex and not self.token_pattern:
            raise UsageError("--tokenizer regex needs --token-pattern PATTERN")
        if self.token_pattern and self.tokenizer is not Tokenizer.regex:
            raise UsageError("--token-pattern is used only with --tokenizer regex")
        if self.algorithm is not Algorithm.fasttext and (self.min_n, self.max_n) != (3, 6):
            raise UsageError("--min-n/--max-n are FastText options", hint="add --algorithm fasttext")
        if self.min_n > self.max_n:
            raise UsageError(f"--min-n ({self.min_n}) is larger than --max-n ({self.max_n})")
        if self.algorithm is not Algorithm.doc2vec and (self.dbow or self.dbow_words):
            raise UsageError("--dbow/--dbow-words are Doc2Vec options", hint="add --algorithm doc2vec")
        if self.algorithm is Algorithm.doc2vec and self.sg:
            raise UsageError("--sg is a Word2Vec/FastText option; Doc2Vec's skip-gram-like mode is --dbow")
        if not self.hs and self.negative == 0:
            raise UsageError("--negative 0 without --hs leaves nothing to train", hint="add --hs, or --negative 5")

    def gensim_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the gensim model's constructor (no corpus: vocabulary is built separately)."""
        kwargs: dict[str, Any] = {
            "vector_size": self.dim,
            "workers": self.workers,
            "seed": self.seed,
            "hs": int(self.hs),
            "shrink_windows": self.shrink_windows,
            "max_vocab_size": self.max_vocab_size,
            "max_final_vocab": self.max_final_vocab,
            "hashfxn": stable_hash,
        }
        if self.negative is None and self.hs:
            kwargs["negative"] = 0  # --hs alone means hierarchical softmax instead of negative sampling
        for name in ("window", "min_count", "sample", "negative", "alpha", "min_alpha", "epochs"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.algorithm is Algorithm.doc2vec:
            kwargs["dm"] = 0 if self.dbow else 1
            kwargs["dbow_words"] = int(self.dbow_words)
        else:
            kwargs["sg"] = int(bool(self.sg))
        if self.algorithm is Algorithm.fasttext:
            kwargs.update(min_n=self.min_n, max_n=self.max_n, bucket=self.bucket)
        kwargs.update(self.extra)
        return kwargs

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON values, recorded beside the vectors."""
        out: dict[str, Any] = {"algorithm": self.algorithm.value, "preset": self.preset.value}
        out["tokenizer"] = self.tokenizer.value if self.tokenizer else None
        for name in ("token_pattern", "lowercase", "phrases"):
            out[name] = getattr(self, name)
        out.update({k: v for k, v in self.gensim_kwargs().items() if k != "hashfxn"})
        return out
