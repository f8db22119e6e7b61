"""The one interface every backend implements: know your dimension, embed a list of texts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from embedcli.backends.models import ModelRef
from embedcli.errors import UsageError

if TYPE_CHECKING:  # numpy only names types here: `embedcli --help` imports this module for Device
    import numpy as np


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Modality(str, Enum):
    """What a backend embeds (media backends may take several)."""

    text = "text"
    image = "image"
    audio = "audio"


@dataclass(frozen=True)
class BackendOptions:
    """Engine options a backend may honour. Backends ignore what does not apply to them."""

    device: Device = Device.auto
    batch_size: int = 32
    max_length: int | None = None
    prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Told of slow one-off steps (a first-use export) before they start, so a user is not left staring at nothing.
    announce: Callable[[str], None] | None = None


class Backend(ABC):
    """Turns texts into float32 vectors.

    `embed(texts)` returns an array of shape (len(texts), dimension), row i for texts[i], float32.
    Normalisation, Matryoshka truncation and precision are applied outside, once, for all backends.
    A backend counts the texts it had to cut at the model's length limit in `truncated`.
    """

    name: ClassVar[str]

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        self.model = model
        self.options = options
        self.truncated = 0

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    def max_length(self) -> int | None:
        """The length limit (in tokens) beyond which texts are truncated, if the backend has one."""
        return None

    @property
    def tokenizer(self) -> Any | None:
        """The model's own fast tokenizer (a `tokenizers.Tokenizer`), for chunking texts by its tokens; None when
        the backend has none (word vectors, media)."""
        return None

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]:
        """What to record about this backend in output metadata."""
        # Local models are recorded by absolute path, so later commands find them from any directory.
        model = self.model.location if self.model.is_local and self.model.source.value != "shipped" else self.model.name
        return {"backend": self.name, "model": model, "max_length": self.max_length}

    def notes(self) -> list[str]:
        """Remarks for the end-of-run summary (out-of-vocabulary counts and the like)."""
        return []


# No tokenizer embedcli runs makes tokens longer than this many characters on real text, so a text cut at
# max_length x this keeps every token the model reads, and a 20 MB line is not tokenized whole (gigabytes) to keep
# its first few hundred tokens. Where the cut text still fits the limit (very long "words", runs of spaces, which
# tokenizers fold into few tokens) the bound doubles, up to CHARS_PER_TOKEN_CAP characters per token.
CHARS_PER_TOKEN_CEILING = 64
CHARS_PER_TOKEN_CAP = 1024


# Tokenizers without a real limit report a huge model_max_length; the position table is then the true limit.
UNSET_LIMIT = 1_000_000


def token_limit(*limits: object) -> int | None:
    """The smallest real limit among `limits` (a model's position table, its tokenizer's model_max_length), or None.

    Values that are not ints, or that are the huge "no limit" sentinels tokenizers report, are ignored.
    """
    real = [int(n) for n in limits if isinstance(n, int) and not isinstance(n, bool) and 0 < n < UNSET_LIMIT]
    return min(real) if real else None


def check_max_length(asked: int | None, limit: int | None, model_name: str) -> None:
    """Refuse `--max-length` past what the model can read (UsageError, one line and a hint). None: nothing asked,
    or no known limit."""
    if asked is None:
        return
    if asked < 1:
        raise UsageError(f"--max-length must be at least 1, not {asked}")
    if limit is not None and asked > limit:
        raise UsageError(
            f"--max-length {asked} is past the limit of model '{model_name}': it reads at most {limit} tokens",
            hint=f"pass --max-length {limit} or less; longer texts are truncated and counted in the summary",
        )


def cut_long_texts(texts: list[str], max_length: int | None, count_tokens: Callable[[str], int]) -> list[str]:
    """`texts` with each one longer than max_length x CHARS_PER_TOKEN_CEILING characters cut before tokenizing.

    The cut falls on whitespace (a word cut through would tokenize differently) and is kept only once it holds
    more than `max_length` tokens (by `count_tokens`, special tokens included), so the tokens the model reads are
    those of the whole text; until then the bound doubles, up to max_length x CHARS_PER_TOKEN_CAP characters (past
    which a text is cut there whatever it holds). Shorter texts, and all texts when `max_length` is None (no limit),
    are returned as they are.
    """
    if max_length is None:
        return texts
    cap = max_length * CHARS_PER_TOKEN_CAP
    out = []
    for text in texts:
        limit = max_length * CHARS_PER_TOKEN_CEILING
        while len(text) > limit:
            # One character past the bound shows whether the cut falls between words; a text with no whitespace
            # there is cut at the bound.
            words = text[: limit + 1].rsplit(maxsplit=1)
            head = words[0] if len(words) == 2 else text[:limit]
            if limit >= cap or count_tokens(head) > max_length:
                text = head
                break
            limit *= 2
        out.append(text)
    return out


def length_sorted_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Index batches in order of decreasing length, so each batch pads little; callers restore the order."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
