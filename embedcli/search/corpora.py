"""Several corpora searched as one: `similar --corpus a.parquet --corpus b.parquet`, a glob, or a folder of vector
files.

Every corpus must hold vectors of one space: the same model, the same family of backend and the same dimension
(as `--queries` vector files are checked). Rows keep their order, corpus after corpus; each id is prefixed with its
corpus's path (`a.parquet:17`), as `embed` names the rows of several inputs, so a hit says where it came from.
Columns one corpus lacks are null on its rows. Stored int8 values, whose calibration differs from file to file,
are decoded to float32 first; packed binary corpora are joined as stored.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, VECTOR_SUFFIXES, data_suffix
from embedcli.formats.lance_store import is_store
from embedcli.formats.shard_folder import is_shard_folder
from embedcli.precision import Precision
from embedcli.search.corpus import Corpus, load_corpus

_GLOB_CHARS = frozenset("*?[")


def corpus_paths(given: list[str]) -> list[str]:
    """The corpus files `given` names, in order: a file, store or shard folder as itself; another folder as the
    vector files under it (by suffix, sorted by path); a glob pattern that names no file as its sorted matches.

    Raises UsageError for a folder or pattern that holds no vector file, or for a path named twice.
    """
    paths: list[str] = []
    for path in given:
        whole = os.path.isfile(path) or (os.path.isdir(path) and (is_store(path) or is_shard_folder(path)))
        if path == STDIO or whole:
            paths.append(path)
        elif os.path.isdir(path):
            found = _vector_files(path)
            if not found:
                known = ", ".join(VECTOR_SUFFIXES)
                raise UsageError(f"no vector files in the folder '{path}'", hint=f"vector files end in {known}")
            paths += found
        elif _GLOB_CHARS & set(path):
            matched = sorted(glob.glob(path, recursive=True))
            if not matched:
                raise UsageError(f"no corpus file matches '{path}'")
            paths += matched
        else:
            paths.append(path)  # the loader says why it cannot be read
    twice = next((p for i, p in enumerate(paths) if p in paths[:i]), None)
    if twice is not None:
        raise UsageError(f"the corpus '{twice}' is named twice")
    return paths


def _vector_files(folder: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        stores = [d for d in dirs if is_store(os.path.join(root, d))]
        found += [os.path.join(root, d) for d in stores]
        dirs[:] = [d for d in dirs if d not in stores]
        found += [os.path.join(root, n) for n in names if not n.startswith(".") and data_suffix(n) in VECTOR_SUFFIXES]
    return sorted(found)


def load_corpora(paths: list[str], version: int | None = None) -> Corpus:
    """One corpus of the rows of every path in `paths` (one path: that corpus as `load_corpus` reads it).

    Raises UsageError for `version` with several corpora or for word-vector files among them, InputError when two
    corpora hold vectors of different models, backends, dimensions or binary precisions.
    """
    if len(paths) == 1:
        return load_corpus(paths[0], version=version)
    if version is not None:
        raise UsageError("--version reads an older version of one store; name a single corpus")
    corpora = [load_corpus(path) for path in paths]
    first = corpora[0]
    for corpus in corpora:
        if corpus.words is not None:
            raise UsageError(f"{corpus.name} holds word vectors: search word vectors one file at a time")
        _check_same_space(first, corpus)
    packed = first.precision.is_packed
    if packed:
        vectors = np.concatenate([np.asarray(c.vectors[:]) for c in corpora])
    else:
        vectors = np.concatenate([c.floats(slice(None)) for c in corpora])
    has_text = any(c.texts is not None for c in corpora)
    names = list(dict.fromkeys(name for c in corpora for name in c.columns))
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for corpus in corpora:
        for name in names:
            columns[name] += corpus.columns.get(name) or [None] * len(corpus)
    return Corpus(
        name=" + ".join(c.name for c in corpora),
        ids=[f"{c.name}:{row_id}" for c in corpora for row_id in c.ids],
        vectors=vectors,
        dimension=first.dimension,
        precision=first.precision if packed else Precision.float32,
        decode=first.decode if packed else None,
        texts=[t for c in corpora for t in (c.texts or [""] * len(c))] if has_text else None,
        provenance=first.provenance,
        owned=not packed,
        notes=[note for c in corpora for note in c.notes],
        columns=columns,
    )


def _check_same_space(first: Corpus, other: Corpus) -> None:
    ours, theirs = first.provenance, other.provenance
    if ours.model and theirs.model and ours.model != theirs.model:
        raise InputError(
            f"{other.name} was embedded with {theirs.model}, {first.name} with {ours.model}: "
            "their vectors cannot be searched together",
            hint="search them one at a time, or embed both with the same --model",
        )
    if ours.family and theirs.family and ours.family != theirs.family:
        raise InputError(
            f"{other.name} was embedded by {theirs.backend}, {first.name} by {ours.backend}: their vectors differ",
            hint="embed both with the same --backend and --quantize",
        )
    if other.dimension != first.dimension:
        raise InputError(f"{other.name} holds {other.dimension}-d vectors, {first.name} {first.dimension}-d")
    if (first.precision.is_packed or other.precision.is_packed) and first.precision is not other.precision:
        raise InputError(
            f"{other.name} holds {other.precision.value} vectors, {first.name} {first.precision.value}",
            hint="packed binary vectors are searched together only with vectors of the same precision",
        )
