"""A shard folder: vectors written as `part-00000.parquet`, `part-00001.parquet`, ... plus `manifest.json`.

Layout (what `embed --engine ray -o vectors/` writes and every reading command opens as one corpus):

    vectors/part-00000.parquet     id, text, embedding (fixed-size list), provenance in the schema metadata
    vectors/_done/part-00000.json  the shard's marker: written after its part, names the content it holds
    vectors/manifest.json          written last: shards in order, row counts, input fingerprints, provenance

A folder without a manifest is a run in progress (or interrupted). Rows read in shard order, then row order, so the
folder is the same table as one Parquet file. DuckDB (`read_parquet('vectors/*.parquet')`) and embedding-reader
read the parts directly: the markers and the manifest are not Parquet and sit outside the glob.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from embedcli.errors import InputError
from embedcli.records import VectorTable

MANIFEST = "manifest.json"
MARKERS = "_done"
FORMAT = "embedcli-shards/1"


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def marker_name(index: int) -> str:
    return f"{MARKERS}/part-{index:05d}.json"


def is_shard_folder(path: str) -> bool:
    """True for a local folder holding a shard manifest."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def read_manifest(path: str) -> dict[str, Any]:
    """The manifest of the shard folder `path`. Raises InputError when it is missing or not embedcli's."""
    try:
        with open(os.path.join(path, MANIFEST), "rb") as f:
            manifest = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read {MANIFEST} ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: {MANIFEST} is not an embedcli shard manifest")
    return manifest


def shard_parts(path: str) -> list[str]:
    """The part files of the shard folder `path`, in shard order. Raises InputError when one is missing."""
    parts = [os.path.join(path, shard["name"]) for shard in read_manifest(path)["shards"]]
    missing = [p for p in parts if not os.path.isfile(p)]
    if missing:
        raise InputError(f"{path}: {len(missing)} part(s) listed in the manifest are missing, e.g. {missing[0]}")
    return parts


def shard_bytes(path: str) -> int:
    """The size of the parts on disk."""
    return sum(os.path.getsize(p) for p in shard_parts(path))


def read_shard_table(path: str, vector_column: str = "embedding") -> VectorTable:
    """The whole shard folder as one vector table (parts concatenated in shard order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embedcli.formats.vector_files import vector_table_from_arrow

    parts = shard_parts(path)
    if not parts:
        raise InputError(f"{path}: the shard folder has no rows")
    try:
        tables = [pq.read_table(p) for p in parts]
        table = pa.concat_tables(tables)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read the parts ({exc})") from None
    return vector_table_from_arrow(table, path, vector_column)
