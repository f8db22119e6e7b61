"""What a training run is asked to do: the algorithm, gensim's knobs (with gensim's defaults), presets, and
how the inputs are read.

Every knob left as None means "gensim's default for this algorithm", so `--epochs` is 5 for Word2Vec and
FastText but 10 for Doc2Vec, exactly as when gensim is called directly.

A run's settings have one plain form, its config: a flat mapping keyed by the option names of `embedcli train`
(`min_count` for `--min-count`), which is what a `--config` TOML file holds and what every output records, so
that recorded settings can be fed back to rerun a training exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson

from embedcli.errors import UsageError
from embedcli.formats import InputFormat
from embedcli.tokens import Tokenizer

if TYPE_CHECKING:
    from embedcli.train.glove.fit import GloveSettings


class Algorithm(str, Enum):
    word2vec = "word2vec"
    fasttext = "fasttext"
    doc2vec = "doc2vec"
    glove = "glove"


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

# The Stanford tool's defaults (glove.c, cooccur.c), taken by GloVe for every knob the user leaves unset; `dim`
# is embedcli's 100 (glove.c: 50). `alpha` is the exponent of the weighting f(x) = min(1, (x/x_max)^alpha) and
# `eta` the learning rate, as glove.c names them.
GLOVE_DEFAULTS: dict[str, Any] = {
    "window": 15,
    "min_count": 5,
    "x_max": 100.0,
    "alpha": 0.75,
    "eta": 0.05,
    "epochs": 25,
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
    """One training run: the model's knobs and how the inputs are read. None means gensim's default (or the
    preset's). Every field but `extra` is a setting of the config (see CONFIG_FIELDS)."""

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
    x_max: float | None = None  # GloVe only, as `eta`
    eta: float | None = None
    # How records are read (as `embed` reads them): which field or column holds the text, and the decoding.
    input_format: InputFormat | None = None
    text_field: str = "text"
    id_field: str | None = None
    text_column: str = "text"
    id_column: str | None = None
    encoding: str = "utf-8"
    errors: str = "strict"
    extra: dict[str, Any] = field(default_factory=dict)  # more gensim keyword arguments, from Python only

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> TrainSettings:
        """Settings from a config mapping (keys as in CONFIG_FIELDS, values already of the fields' types).

        Keys left out keep their defaults. Raises UsageError naming an unknown key.
        """
        unknown = [key for key in values if key not in CONFIG_FIELDS]
        if unknown:
            raise UsageError(f"unknown setting '{unknown[0]}'")
        return cls(**{CONFIG_FIELDS[key]: value for key, value in values.items()})

    def config(self) -> dict[str, Any]:
        """These settings as a config: plain TOML/JSON values (enums by their value), unset (None) knobs left
        out. `TrainSettings.from_config(s.config())` equals `s` (bar `extra`)."""
        out = {}
        for key, name in CONFIG_FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                out[key] = value.value if isinstance(value, Enum) else value
        return out

    def config_sha256(self) -> str:
        """A digest of `config()` (keys sorted), the same in every process: equal digests, equal settings."""
        return hashlib.sha256(orjson.dumps(self.config(), option=orjson.OPT_SORT_KEYS)).hexdigest()

    def resolved(self) -> TrainSettings:
        """These settings with the preset's values filled in where the user left a knob unset."""
        filled = {k: v for k, v in PRESETS[self.preset].items() if getattr(self, k) is None}
        if self.algorithm is Algorithm.glove:
            filled.update({k: v for k, v in GLOVE_DEFAULTS.items() if getattr(self, k) is None})
        settings = replace(self, **filled)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise UsageError for settings that cannot go together or are out of range."""
        for name, least in MINIMUMS.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise UsageError(f"--{name.replace('_', '-')} must be at least {least} (got {value})")
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
        if self.algorithm is Algorithm.glove:
            _check_glove(self)
        elif self.x_max is not None or self.eta is not None:
            raise UsageError("--x-max/--eta are GloVe options", hint="add --algorithm glove")
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

    def glove_settings(self) -> GloveSettings:
        """The GloVe trainer's settings (for resolved settings: knobs left unset are the Stanford tool's)."""
        from embedcli.train.glove.fit import GloveSettings

        known = {k: v for k, v in GLOVE_DEFAULTS.items() if k in ("x_max", "alpha", "eta", "epochs")}
        chosen = {k: getattr(self, k) for k in known if getattr(self, k) is not None}
        return GloveSettings(dim=self.dim, workers=self.workers, seed=self.seed, **{**known, **chosen})

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON values, recorded beside the vectors."""
        out: dict[str, Any] = {"algorithm": self.algorithm.value, "preset": self.preset.value}
        out["tokenizer"] = self.tokenizer.value if self.tokenizer else None
        for name in ("token_pattern", "lowercase", "phrases"):
            out[name] = getattr(self, name)
        if self.algorithm is Algorithm.glove:
            glove = self.glove_settings()
            out.update(
                vector_size=glove.dim, window=self.window or GLOVE_DEFAULTS["window"], epochs=glove.epochs,
                x_max=glove.x_max, alpha=glove.alpha, eta=glove.eta, workers=glove.workers, seed=glove.seed,
                min_count=self.min_count or GLOVE_DEFAULTS["min_count"], max_vocab_size=self.max_vocab_size,
                max_final_vocab=self.max_final_vocab,
            )  # fmt: skip
            return out
        out.update({k: v for k, v in self.gensim_kwargs().items() if k != "hashfxn"})
        return out


# What GloVe cannot take: gensim's knobs, with the values that mean "not given" (none of them has a GloVe sense).
_NOT_GLOVE: dict[str, tuple[str, Any]] = {
    "sg": ("--sg/--cbow", None),
    "hs": ("--hs", False),
    "negative": ("--negative", None),
    "sample": ("--sample", None),
    "min_alpha": ("--min-alpha", None),
    "shrink_windows": ("--no-shrink-windows", True),
    "bucket": ("--bucket", 2_000_000),
    "corpus_mode": ("--corpus-mode", CorpusMode.auto),
}


def _check_glove(settings: TrainSettings) -> None:
    for name, (option, unset) in _NOT_GLOVE.items():
        if getattr(settings, name) != unset:
            raise UsageError(f"{option} does not apply to --algorithm glove (a gensim option)")
    for name, number in (("--x-max", settings.x_max), ("--eta", settings.eta), ("--alpha", settings.alpha)):
        if number is not None and not number > 0:
            raise UsageError(f"{name} must be positive for GloVe, not {number}")


# Config keys are the options' names (`--loss` sets compute_loss); every other field's key is its name.
_KEY_OF_FIELD = {"compute_loss": "loss"}
CONFIG_FIELDS: dict[str, str] = {
    _KEY_OF_FIELD.get(f.name, f.name): f.name for f in fields(TrainSettings) if f.name != "extra"
}

# The smallest value each numeric knob takes (the same bounds as the options' own).
MINIMUMS: dict[str, int | float] = {
    "dim": 1,
    "window": 1,
    "min_count": 1,
    "max_vocab_size": 1,
    "max_final_vocab": 1,
    "sample": 0.0,
    "negative": 0,
    "alpha": 0.0,
    "min_alpha": 0.0,
    "epochs": 1,
    "workers": 1,
    "min_n": 1,
    "max_n": 1,
    "bucket": 1,
    "phrases_min_count": 1,
    "x_max": 0.0,
    "eta": 0.0,
}
