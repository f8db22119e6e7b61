"""Writing trained vectors, by suffix: word2vec binary/text, FastText Facebook .bin, Parquet, NPY + vocabulary.

Every file is written to a temporary file beside its target and renamed into place only when complete, so a
failed or interrupted run leaves no partial output. Doc2Vec writes its document vectors, keyed by record id.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson

from embedcli.errors import UsageError
from embedcli.formats import STDIO, WordVectorFormat, data_suffix
from embedcli.formats.outputs import METADATA_KEY, AtomicTarget
from embedcli.formats.targets import check_not_protected as check_not_input
from embedcli.formats.word_vectors import MODEL_FILE, MODEL_MARKER, vocab_path_for
from embedcli.train.settings import Algorithm

# The registry's formats of word-vector files, as `train --format` offers them (defined in formats, which --help
# can import without this module's writers).
VectorFileFormat = WordVectorFormat


_SUFFIXES = {
    ".bin": VectorFileFormat.binary,
    ".txt": VectorFileFormat.text,
    ".vec": VectorFileFormat.text,
    ".parquet": VectorFileFormat.parquet,
    ".pq": VectorFileFormat.parquet,
    ".npy": VectorFileFormat.npy,
}


def vector_file_format(
    path: str,
    override: VectorFileFormat | None = None,
    algorithm: Algorithm = Algorithm.word2vec,
    stdout_is_terminal: bool = False,
) -> VectorFileFormat:
    """The format of a `train` output, from `override` or the suffix. Raises UsageError for others.

    Text is the word2vec text format (a header line, then a row per word), except for GloVe, whose `.txt`
    and stdout are the GloVe text format (no header, as Stanford publishes its vectors); `.vec` is always
    word2vec text. `-` is stdout: text unless `override` says otherwise; binary formats are refused on a
    terminal (`stdout_is_terminal`, the caller's fact), and NPY (two files) cannot go there at all.
    """
    text = VectorFileFormat.glove if algorithm is Algorithm.glove else VectorFileFormat.text
    if path == STDIO:
        fmt = override or text
        if fmt is VectorFileFormat.npy:
            raise UsageError("NPY output is two files (matrix and vocabulary): it cannot go to stdout")
        if fmt not in (VectorFileFormat.text, VectorFileFormat.glove) and stdout_is_terminal:
            raise UsageError(f"refusing to write {fmt.value} data to a terminal", hint="write to a file with -o FILE")
        return fmt
    if override is not None:
        return override
    suffix = data_suffix(path)
    if suffix == ".txt":
        return text
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        raise UsageError(
            f"cannot tell the vector format of '{path}' from its suffix",
            hint="use .bin (word2vec/FastText binary), .txt or .vec (text), .parquet or .npy, or pass --format",
        ) from None


def check_targets(
    output: str | None, save_model: str | None, inputs: list[str], save_cooccur: str | None = None
) -> None:
    """Fail before training, not after, on outputs that cannot be written."""
    if save_cooccur == STDIO:
        raise UsageError("--save-cooccur names a file, not stdout")
    for target in (output, save_model, save_cooccur):
        if target is None or target == STDIO:
            continue
        check_not_input(target, inputs)
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise UsageError(f"cannot write '{target}': directory '{parent}' does not exist")
    if save_model == STDIO:
        raise UsageError("--save-model names a folder, not stdout")
    if output is not None and os.path.isdir(output):
        raise UsageError(f"cannot write '{output}': it is a directory")
    if save_model is not None and os.path.exists(save_model):
        if not os.path.isdir(save_model):
            raise UsageError(f"--save-model '{save_model}' is a file; it names a folder")
        if os.listdir(save_model) and not os.path.exists(os.path.join(save_model, MODEL_MARKER)):
            raise UsageError(
                f"--save-model folder '{save_model}' is not empty and holds no embedcli model",
                hint="name a new or empty folder",
            )


def keyed_vectors_of(model: Any, ids: list[str]) -> Any:
    """What a file of vectors holds: word vectors, or for Doc2Vec the document vectors keyed by record id."""
    if not _is_doc2vec(model):
        return model.wv
    import numpy as np
    from gensim.models import KeyedVectors

    kv = KeyedVectors(model.dv.vector_size, count=0, dtype=np.float32)  # count=N would preallocate N more rows
    kv.add_vectors(ids, np.asarray(model.dv.vectors[: len(ids)], dtype=np.float32))
    return kv


def write_vectors(
    model: Any, target: str, fmt: VectorFileFormat, ids: list[str], metadata: dict[str, Any]
) -> list[str]:
    """Write the model's vectors to `target` (`-`: stdout) in `fmt`, atomically. Returns the paths written."""
    kv = keyed_vectors_of(model, ids)
    if fmt is VectorFileFormat.binary and _is_fasttext(model):
        from gensim.models.fasttext import save_facebook_model

        with AtomicTarget(None if target == STDIO else target, ".bin") as atomic:
            save_facebook_model(model, atomic.path)
        return ["stdout" if target == STDIO else target]
    return write_keyed_vectors(kv, target, fmt, metadata, words=not _is_doc2vec(model))


def write_keyed_vectors(
    kv: Any, target: str, fmt: VectorFileFormat, metadata: dict[str, Any], words: bool
) -> list[str]:
    """Write gensim KeyedVectors to `target` (`-`: stdout) in `fmt`, atomically; `words`: keys are words (with
    a `count` attribute), else record ids. Returns the paths written."""
    if fmt is VectorFileFormat.npy:
        return _write_npy(kv, target)
    with AtomicTarget(None if target == STDIO else target, "." + fmt.value) as atomic:
        if fmt in (VectorFileFormat.binary, VectorFileFormat.text):
            kv.save_word2vec_format(atomic.path, binary=fmt is VectorFileFormat.binary)
        elif fmt is VectorFileFormat.glove:
            from embedcli.train.glove.writer import write_glove_text

            with open(atomic.path, "w", encoding="utf-8", newline="\n") as out:
                write_glove_text([str(key) for key in kv.index_to_key], kv.vectors, out)
        else:
            _write_parquet(kv, atomic.path, metadata, words=words)
    return ["stdout" if target == STDIO else target]


def word_vectors(words: list[str], vectors: Any, counts: Any) -> Any:
    """gensim KeyedVectors of `words` (row i of `vectors`, float32 `(len(words), dim)`), each with its corpus
    `count` (int64 `(len(words),)`), as the other algorithms' models hold them."""
    import numpy as np
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)  # count=N would preallocate N more rows
    kv.add_vectors(words, np.asarray(vectors, dtype=np.float32))
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
    kv.expandos["count"][:] = np.asarray(counts, dtype=np.int64)
    return kv


def _write_parquet(kv: Any, path: str, metadata: dict[str, Any], words: bool) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    keys = pa.array([str(k) for k in kv.index_to_key], type=pa.string())
    if words:
        counts = pa.array([int(kv.get_vecattr(w, "count")) for w in kv.index_to_key], type=pa.int64())
        columns, names = [keys, counts, embedding], ["word", "count", "embedding"]
    else:
        columns, names = [keys, embedding], ["id", "embedding"]
    table = pa.Table.from_arrays(columns, names=names)
    table = table.replace_schema_metadata({METADATA_KEY: orjson.dumps(metadata)})
    pq.write_table(table, path, compression="zstd")


def _write_npy(kv: Any, target: str) -> list[str]:
    import numpy as np

    vocab_target = str(vocab_path_for(target))
    # The vocabulary is committed before the matrix, so a matrix never appears without its words.
    with AtomicTarget(target, ".npy") as matrix, AtomicTarget(vocab_target, ".txt") as vocab:
        with open(matrix.path, "wb") as f:
            np.save(f, np.ascontiguousarray(kv.vectors, dtype=np.float32))
        with open(vocab.path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{key}\n" for key in kv.index_to_key)
    return [target, vocab_target]


def save_model(model: Any, folder: str, metadata: dict[str, Any]) -> None:
    """Keep the full gensim model (a pickle, for continued training) in `folder`, replacing it as a whole."""
    target = Path(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.resolve().parent))
    try:
        model.save(str(staging / MODEL_FILE))
        marker = {"format": "gensim-pickle", "file": MODEL_FILE, "class": type(model).__name__, **metadata}
        (staging / MODEL_MARKER).write_bytes(orjson.dumps(marker, option=orjson.OPT_INDENT_2))
        os.chmod(staging, 0o777 & ~_umask())
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_fasttext(model: Any) -> bool:
    return type(model).__name__ == "FastText"


def _is_doc2vec(model: Any) -> bool:
    return type(model).__name__ == "Doc2Vec"


__all__ = [
    "Algorithm",
    "VectorFileFormat",
    "check_targets",
    "save_model",
    "vector_file_format",
    "word_vectors",
    "write_keyed_vectors",
    "write_vectors",
]
