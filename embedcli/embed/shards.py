"""The shard plan of a distributed run: embedcli, not the engine, decides what each part holds.

Records are read once, in input order, and cut into shards of `shard_rows` rows. A shard's key is a hash of the
settings that change a vector and of every id and text it holds, so a marker from an earlier run proves the part
holds exactly this shard's vectors: resuming skips it, and a changed input or setting recomputes it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from embedcli import __version__
from embedcli.formats.remote import join, list_names, read_text, remove, write_text
from embedcli.formats.shard_folder import FORMAT, MANIFEST, MARKERS, marker_name, part_name
from embedcli.records import Record


@dataclass(frozen=True)
class Shard:
    """Rows `first_row`.. of the run, to be written as part `index`; `key` identifies settings and content."""

    index: int
    first_row: int
    ids: list[str]
    texts: list[str]
    key: str

    @property
    def name(self) -> str:
        return part_name(self.index)

    def __len__(self) -> int:
        return len(self.ids)


def cut_shards(records: Iterable[Record], shard_rows: int, settings_key: str) -> Iterator[Shard]:
    """Consecutive shards of `shard_rows` records (the last may be shorter), read lazily."""
    if shard_rows < 1:
        raise ValueError("shard_rows must be at least 1")
    iterator = iter(records)
    first = 0
    for index in itertools.count():
        chunk = list(itertools.islice(iterator, shard_rows))
        if not chunk:
            return
        ids, texts = [r.id for r in chunk], [r.text for r in chunk]
        yield Shard(index, first, ids, texts, shard_key(settings_key, ids, texts))
        first += len(chunk)


def shard_key(settings_key: str, ids: list[str], texts: list[str]) -> str:
    digest = hashlib.sha256(settings_key.encode())
    for row_id, text in zip(ids, texts, strict=True):
        # Lengths first, so ("ab", "c") and ("a", "bc") never hash alike.
        digest.update(orjson.dumps([row_id, text]))
    return digest.hexdigest()


def settings_key(settings: dict[str, Any]) -> str:
    """A stable text of everything that changes a vector (model, backend, options, shaping, batch size)."""
    return orjson.dumps(settings, option=orjson.OPT_SORT_KEYS, default=str).decode()


class ShardFolder:
    """The output folder (local path or URL) of a sharded run: parts, markers, manifest."""

    def __init__(self, root: str) -> None:
        self.root = root

    def part_path(self, index: int) -> str:
        return join(self.root, part_name(index))

    def marker_path(self, index: int) -> str:
        return join(self.root, marker_name(index))

    def done(self, shard: Shard) -> dict[str, Any] | None:
        """The marker of `shard` when its part is complete for exactly this content, else None."""
        text = read_text(self.marker_path(shard.index))
        if text is None:
            return None
        marker = orjson.loads(text)
        return marker if marker.get("key") == shard.key and marker.get("rows") == len(shard) else None

    def mark_done(self, shard: Shard, provenance: dict[str, Any]) -> None:
        """Record that `shard`'s part is written. Call only after the part itself is in place."""
        marker = {"name": shard.name, "key": shard.key, "rows": len(shard), "provenance": provenance}
        write_text(self.marker_path(shard.index), orjson.dumps(marker).decode())

    def start(self) -> None:
        """A run begins: the old manifest goes first, so a half-updated folder never reads as finished."""
        remove(join(self.root, MANIFEST))

    def finish(self, shards: list[dict[str, Any]], inputs: list[dict[str, Any]], provenance: dict[str, Any]) -> None:
        """Drop parts and markers beyond this run's last shard, then write the manifest, last of all."""
        keep = {s["name"] for s in shards}
        for name in list_names(self.root):
            if name.startswith("part-") and name.endswith(".parquet") and name not in keep:
                remove(join(self.root, name))
        for name in list_names(join(self.root, MARKERS)):
            if name.endswith(".json") and name.replace(".json", ".parquet") not in keep:
                remove(join(self.root, f"{MARKERS}/{name}"))
        manifest = {
            "format": FORMAT,
            "embedcli_version": __version__,
            "rows": sum(s["rows"] for s in shards),
            "shards": shards,
            "inputs": inputs,
            "provenance": provenance,
        }
        write_text(join(self.root, MANIFEST), orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode())
