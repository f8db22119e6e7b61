"""`info` as a library: what a vector file or store holds (rows, dimension, precision, provenance, versions)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from embedcli.formats import STDIO, Kind, format_of
from embedcli.formats.lance_store import is_store, open_store
from embedcli.formats.remote import size as remote_size
from embedcli.formats.shard_folder import is_shard_folder, shard_bytes
from embedcli.formats.vector_batches import VectorBatches
from embedcli.search import IndexHeader, read_index_header


@dataclass
class VersionInfo:
    number: int
    time: str
    rows: int
    operation: str
    inserted: int | None
    updated: int | None
    deleted: int | None


@dataclass
class FileInfo:
    """Facts about one vector input: `format` is the registry's name; `bytes` the size on disk (every version's
    files for a store); `provenance` the whole recorded mapping; `versions` a store's commits, oldest first."""

    path: str
    format: str
    rows: int
    dimension: int
    precision: str
    bytes: int | None
    has_text: bool
    columns: list[str]
    provenance: dict[str, Any]
    versions: list[VersionInfo] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe_file(path: str, version: int | None = None) -> FileInfo:
    """Read what `path` ('-': stdin) holds without loading its vectors where the format allows.

    Raises UsageError for an unreadable path, InputError for content that is not vectors.
    """
    if path != STDIO and is_store(path):
        store = open_store(path, version)
        provenance = store.provenance
        return FileInfo(
            path=path,
            format="lance",
            rows=store.count_rows(),
            dimension=int(provenance.get("dimension") or store.width),
            precision=str(provenance.get("precision") or store.value_dtype),
            bytes=store.size_bytes(),
            has_text=store.has_text,
            columns=["id", *(["text"] if store.has_text else []), "content_hash", "embedding", *store.columns],
            provenance=provenance,
            versions=[
                VersionInfo(v.number, v.timestamp.isoformat(), v.rows, v.operation, v.inserted, v.updated, v.deleted)
                for v in store.versions()
            ],
        )
    with VectorBatches(path, version=version) as data:
        recorded = data.provenance
        return FileInfo(
            path=path,
            format=data.fmt.value,
            rows=data.num_rows,
            dimension=int(recorded.dimension or data.width),
            precision=recorded.precision or "float32",
            bytes=None if path == STDIO else shard_bytes(path) if is_shard_folder(path) else remote_size(path),
            has_text=data.has_text,
            columns=data.column_names,
            provenance=recorded.to_dict(),
        )


def is_index_file(path: str) -> bool:
    """Whether `path` names an index file (`embedcli index`), by its suffix."""
    return path != STDIO and format_of(path, Kind.index_file) is not None


def describe_index(path: str) -> tuple[IndexHeader, int]:
    """The header an index file records (metric, precision, rows, graph parameters, measured recall) and its size
    in bytes, without loading the graph. Raises InputError when `path` is not an index file."""
    return read_index_header(path), os.path.getsize(path)
