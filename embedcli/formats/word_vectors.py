"""Loading word vectors from the files people have: word2vec binary and text, GloVe text (no header),
fastText `.vec` (word2vec text) and Facebook `.bin` (with subword vectors for unseen words), and the
Parquet word tables and NPY matrices that `embedcli train` writes.

Everything loads as a gensim KeyedVectors, so lookups, similarity and analogies behave as gensim's own.
"""

from __future__ import annotations

import gzip
import struct
from enum import Enum
from pathlib import Path
from typing import Any

from embedcli.errors import InputError, ModelError

FASTTEXT_MAGIC = 793712314  # the int32 that starts a Facebook fastText .bin
MODEL_MARKER = "embedcli-model.json"  # in a `train --save-model` folder, beside the pickled gensim model
MODEL_FILE = "model.gensim"


class WordVectorFormat(str, Enum):
    word2vec_binary = "word2vec-binary"
    word2vec_text = "word2vec-text"
    glove = "glove"
    fasttext_binary = "fasttext-binary"
    parquet = "parquet"
    npy = "npy"


def vocab_path_for(npy_path: str | Path) -> Path:
    """The vocabulary file that sits beside an NPY matrix of word vectors: one word per line, row order."""
    p = Path(npy_path)
    return p.with_name(p.name.removesuffix(".npy") + ".vocab.txt")


def detect_format(path: str) -> WordVectorFormat:
    """Tell word-vector formats apart by content, not by trusting the suffix alone."""
    name = path.lower()
    if name.endswith((".parquet", ".pq")):
        return WordVectorFormat.parquet
    if name.endswith(".npy"):
        return WordVectorFormat.npy
    opener: Any = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(65536)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read word vectors ({exc})") from None
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return WordVectorFormat.fasttext_binary
    first, _, rest = head.partition(b"\n")
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        dim = int(parts[1])
        second = rest.split(b"\n", 1)[0]
        try:
            fields = second.decode("utf-8").split()
            if len(fields) == dim + 1:
                [float(x) for x in fields[1:]]
                return WordVectorFormat.word2vec_text
        except (UnicodeDecodeError, ValueError):
            pass
        return WordVectorFormat.word2vec_binary
    try:
        fields = first.decode("utf-8").split()
        if len(fields) >= 2:
            [float(x) for x in fields[1:]]
            return WordVectorFormat.glove
    except (UnicodeDecodeError, ValueError):
        pass
    raise InputError(
        f"{path}: not a word-vector file embedcli knows",
        hint="expected word2vec (binary or text), GloVe text, fastText .vec/.bin, or an embedcli train output",
    )


def is_saved_model(path: str | Path) -> bool:
    """True for a folder written by `embedcli train --save-model` (a full gensim model, pickled)."""
    return (Path(path) / MODEL_MARKER).is_file()


def load_saved_model(path: str | Path, trust_pickle: bool = False) -> Any:
    """Load a `--save-model` folder as the full gensim model (Word2Vec, FastText or Doc2Vec).

    The model is a Python pickle, and unpickling can run arbitrary code: without `trust_pickle` this raises
    ModelError (the CLI spells the permission `--trust-pickle` and warns when it is given).
    """
    folder = Path(path)
    if not is_saved_model(folder):
        raise InputError(f"{path}: not a model folder written by `embedcli train --save-model`")
    if not trust_pickle:
        raise ModelError(
            f"{path}: a saved gensim model is a Python pickle, and loading one can run arbitrary code",
            hint="pass --trust-pickle if you trust where it came from",
        )
    from gensim.utils import SaveLoad

    try:
        return SaveLoad.load(str(folder / MODEL_FILE))
    except (OSError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise InputError(f"{path}: cannot load the saved model ({exc})") from None


def load_word_vectors(path: str, trust_pickle: bool = False) -> Any:
    """Load `path` as gensim KeyedVectors (FastTextKeyedVectors for Facebook .bin). Raises InputError.

    A `--save-model` folder gives its word vectors, but only with `trust_pickle` (see load_saved_model).
    """
    if Path(path).is_dir():
        return load_saved_model(path, trust_pickle).wv
    fmt = detect_format(path)
    try:
        if fmt is WordVectorFormat.fasttext_binary:
            from gensim.models.fasttext import load_facebook_vectors

            return load_facebook_vectors(path)
        if fmt is WordVectorFormat.parquet:
            return _from_parquet(path)
        if fmt is WordVectorFormat.npy:
            return _from_npy(path)
        from gensim.models import KeyedVectors

        return KeyedVectors.load_word2vec_format(
            path,
            binary=fmt is WordVectorFormat.word2vec_binary,
            no_header=fmt is WordVectorFormat.glove,
            unicode_errors="replace",
        )
    except InputError:
        raise
    except (ValueError, EOFError, OSError, struct.error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid {fmt.value} word-vector file ({exc})") from None


def _keyed_vectors(words: list[str], vectors: Any, counts: list[int] | None = None) -> Any:
    import numpy as np
    from gensim.models import KeyedVectors

    matrix = np.asarray(vectors, dtype=np.float32)
    if len(set(words)) != len(words):
        raise InputError("the vocabulary names some word twice")
    # count=0: gensim's `count` preallocates rows that add_vectors would then append after.
    kv = KeyedVectors(matrix.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, matrix)
    if counts is not None:
        kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
        kv.expandos["count"][:] = np.asarray(counts, dtype=np.int64)
    return kv


def _from_parquet(path: str) -> Any:
    from embedcli.formats.vector_files import read_vector_table

    table = read_vector_table(path)
    words = table.columns.get("word")
    if words is None:
        raise InputError(f"{path}: a word table needs a 'word' column", hint="write one with `embedcli train`")
    return _keyed_vectors([str(w) for w in words], table.vectors, table.columns.get("count"))


def _from_npy(path: str) -> Any:
    import numpy as np

    vocab = vocab_path_for(path)
    if not vocab.exists():
        raise InputError(f"{path}: no vocabulary file beside it (expected {vocab.name})")
    words = vocab.read_text(encoding="utf-8").splitlines()
    matrix = np.load(path)
    if len(words) != len(matrix):
        raise InputError(f"{path}: {len(matrix)} vectors but {len(words)} words in {vocab.name}")
    return _keyed_vectors(words, matrix)
