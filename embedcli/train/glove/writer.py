"""The GloVe text format, as glove.c writes it: one line per word, the word then its values, no header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import numpy as np

from embedcli.errors import UsageError


def write_glove_text(words: Sequence[str], vectors: np.ndarray, out: TextIO, precision: int = 6) -> None:
    """Write `vectors` (shape `(len(words), dim)`) to the open text stream `out`, a row per word.

    Values use `%.{precision}f` (glove.c: `%lf`, 6 decimals), separated by single spaces; gensim reads the
    result with `KeyedVectors.load_word2vec_format(path, no_header=True)`. A word containing whitespace could
    not be read back, so it raises UsageError.
    """
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise UsageError(f"{len(words)} words but vectors of shape {vectors.shape}")
    fmt = " ".join([f"%.{precision}f"] * vectors.shape[1])
    for word, row in zip(words, vectors, strict=True):
        if not word or any(ch.isspace() for ch in word):
            raise UsageError(f"the word {word!r} is empty or holds whitespace: the GloVe text format cannot hold it")
        out.write(word + " " + fmt % tuple(row.tolist()) + "\n")
