"""The index file: faiss's own index bytes, then a JSON header, then a fixed trailer, in one file.

Layout: `[faiss index bytes][header JSON, UTF-8][8-byte little-endian header length][8-byte MAGIC]`. The header
goes last so faiss reads the file from offset 0 and can memory-map the stored vectors in place
(`IO_FLAG_MMAP_IFC`); faiss stops reading at the end of its own bytes and never sees the header.

The header records the corpus the index was built from (`Fingerprint`), so a search refuses an index whose corpus
changed: the fingerprint is the corpus's shape, dtype and a hash of `SAMPLED_ROWS` evenly spaced rows (always the
first and the last), plus the file's path and size, or a Lance store's version. Hashing sampled rows costs a few
milliseconds on any corpus; it catches appended, removed, reordered or re-embedded rows (every row changes when a
corpus is re-embedded), though not an edit confined to rows it does not sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.formats.outputs import AtomicTarget
from embedcli.metrics import Metric
from embedcli.search.ann import AnnIndex, AnnPrecision, IndexHeader, Recall

MAGIC = b"EMBANN01"
TRAILER = struct.Struct("<Q8s")
SAMPLED_ROWS = 4096
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a corpus: its shape and dtype, a hash of sampled rows, and where it came from."""

    rows: int
    dimension: int
    dtype: str
    digest: str
    path: str = ""
    size: int = -1
    store_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(**data)


def fingerprint(
    vectors: np.ndarray, path: str | os.PathLike[str] | None = None, store_version: int | None = None
) -> Fingerprint:
    """The fingerprint of a corpus matrix (n, d) (a memory map is read at SAMPLED_ROWS rows only).

    `path`, when given, adds the file's resolved path and size; `store_version` a Lance store's version.
    """
    n = len(vectors)
    picks = np.unique(np.linspace(0, max(n - 1, 0), num=min(n, SAMPLED_ROWS)).round().astype(np.int64))
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{vectors.shape}|{vectors.dtype.str}".encode())
    digest.update(np.ascontiguousarray(vectors[picks]).tobytes())
    where, size = "", -1
    if path is not None:
        where, size = str(Path(path).resolve()), os.stat(path).st_size
    width = vectors.shape[1] if len(vectors.shape) == 2 else 0  # also a streamed `BatchedMatrix`
    return Fingerprint(n, width, vectors.dtype.str, digest.hexdigest(), where, size, store_version)


def check_matches(index: AnnIndex, corpus: Fingerprint) -> None:
    """Raise UsageError (one line and the fix) unless `index` was built from the corpus `corpus` describes.

    The vectors decide (rows, dimension, dtype, sampled-row hash, store version); a moved or copied file with the
    same vectors still matches.
    """
    built = Fingerprint.from_json(index.header.fingerprint) if index.header.fingerprint else None
    if built is None:
        raise UsageError("the index records no corpus fingerprint", hint="rebuild it with `embedcli index`")
    for name in ("rows", "dimension", "dtype", "digest", "store_version"):
        then, now = getattr(built, name), getattr(corpus, name)
        if then != now:
            what = "its vectors changed" if name == "digest" else f"{name} was {then}, is now {now}"
            raise UsageError(
                f"the index does not match its corpus ({what}; built from {built.path or 'another corpus'})",
                hint=f"rebuild it: embedcli index {corpus.path or 'CORPUS'} -o INDEX",
            )


def header_json(header: IndexHeader) -> dict[str, Any]:
    data = asdict(header)
    data["metric"], data["precision"] = header.metric.value, header.precision.value
    for name in ("held_out", "in_corpus"):
        data[name]["by_ef"] = {str(ef): r for ef, r in data[name]["by_ef"].items()}
    return {"format": FORMAT_VERSION, **data}


def header_from_json(data: dict[str, Any]) -> IndexHeader:
    if data.get("format") != FORMAT_VERSION:
        raise InputError(f"unsupported index format {data.get('format')!r}", hint="rebuild it with `embedcli index`")
    fields = {key: value for key, value in data.items() if key != "format"}
    fields["metric"], fields["precision"] = Metric(data["metric"]), AnnPrecision(data["precision"])
    fields["held_rows"] = tuple(data["held_rows"])
    for name in ("held_out", "in_corpus"):
        recall = data[name]
        fields[name] = Recall(recall["queries"], recall["k"], {int(ef): r for ef, r in recall["by_ef"].items()})
    return IndexHeader(**fields)


def save(index: AnnIndex, path: str | os.PathLike[str]) -> None:
    """Write the index file whole or not at all (`formats.outputs.AtomicTarget`: a temporary file, then replace)."""
    with AtomicTarget(str(path), ".index") as atomic:
        write(index, atomic.path)


def write(index: AnnIndex, path: str | os.PathLike[str]) -> None:
    """Write the index file to `path` as it is (the caller makes it atomic: `save`, or an open `AtomicTarget`)."""
    import faiss

    if index.binary:
        faiss.write_index_binary(index.native, str(path))
    else:
        faiss.write_index(index.native, str(path))
    header = json.dumps(header_json(index.header), separators=(",", ":")).encode()
    with open(path, "ab") as out:
        out.write(header + TRAILER.pack(len(header), MAGIC))
        out.flush()
        os.fsync(out.fileno())


def read_header(path: str | os.PathLike[str]) -> IndexHeader:
    """The header of an index file alone (for `info`), without loading the graph. Raises InputError if not one."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        if end < TRAILER.size:
            raise InputError(f"{path} is not an embedcli index", hint="build one with `embedcli index`")
        handle.seek(end - TRAILER.size)
        length, magic = TRAILER.unpack(handle.read(TRAILER.size))
        if magic != MAGIC or length > end - TRAILER.size:
            raise InputError(f"{path} is not an embedcli index", hint="build one with `embedcli index`")
        handle.seek(end - TRAILER.size - length)
        return header_from_json(json.loads(handle.read(length)))


def load(path: str | os.PathLike[str], mmap: bool = True) -> AnnIndex:
    """Read an index file; with `mmap` the stored vectors stay in the file, mapped (the graph links are read)."""
    import faiss

    header = read_header(path)
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    reader = faiss.read_index_binary if header.precision is AnnPrecision.b1 else faiss.read_index
    return AnnIndex(reader(str(path), flags), header)
