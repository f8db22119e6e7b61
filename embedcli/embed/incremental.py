"""Plan an incremental run: which input records are new, changed or unchanged against a store.

A record is unchanged when its id is stored with the same content hash (of exactly what is embedded: the text
after the prompt) and the store's settings equal the run's (`settings_mismatch`); only new and changed records
are embedded. The planner keeps the stored (id -> hash) map and the ids seen so far, never any vector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from embedcli.errors import InputError, UsageError

# The provenance keys whose values change a vector: a store made with other values cannot be extended.
VECTOR_SETTINGS = (
    "model",
    "backend",
    "dimension",
    "truncate_dim",
    "precision",
    "prompt",
    "normalized",
    "layer",
    "max_length",
    "pooling",
    "quantize",
)
REBUILD_HINT = "pass --rebuild to embed everything again into this store, or write to another store"


def content_hash(text: str) -> str:
    """The 32-hex-digit BLAKE2b-128 digest of `text` (UTF-8): the text after the prompt, as embedded."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Change(str, Enum):
    new = "new"
    changed = "changed"
    unchanged = "unchanged"


class PlannedRecord(NamedTuple):
    """One input record with its verdict. `where` names its place in the input (e.g. "docs.jsonl:3")."""

    id: str
    text: str
    where: str
    change: Change
    hash: str


@dataclass
class IncrementalSummary:
    """What a run did, for the CLI to word. `embedded` counts texts sent to the model; `seconds` is wall time."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    seconds: float = 0.0


class Planner:
    """Classify incoming records against the stored (id -> content hash) map.

    `stored` is a mapping or the batches of `LanceStore.iter_hashes()` (read once, ids and hashes only).
    `plan` raises InputError naming both places when an id occurs twice in the input.
    """

    def __init__(self, stored: Mapping[str, str] | Iterable[tuple[list[str], list[str]]]) -> None:
        if isinstance(stored, Mapping):
            self._stored = dict(stored)
        else:
            self._stored = {}
            for ids, hashes in stored:
                self._stored.update(zip(ids, hashes, strict=True))
        self._seen: dict[str, str] = {}
        self.summary = IncrementalSummary()

    def classify(self, record_id: str, text: str, where: str) -> PlannedRecord:
        """The verdict for one record; counts it in `summary`."""
        earlier = self._seen.get(record_id)
        if earlier is not None:
            raise InputError(
                f"id {record_id!r} occurs twice in the input: {earlier} and {where}",
                hint="ids must be unique; choose another --id-field",
            )
        self._seen[record_id] = where
        digest = content_hash(text)
        stored = self._stored.get(record_id)
        if stored is None:
            change = Change.new
            self.summary.new += 1
        elif stored != digest:
            change = Change.changed
            self.summary.changed += 1
        else:
            change = Change.unchanged
            self.summary.unchanged += 1
        return PlannedRecord(record_id, text, where, change, digest)

    def plan(self, records: Iterable[tuple[str, str, str]]) -> Iterator[PlannedRecord]:
        """Classify (id, text, where) triples lazily, in input order."""
        for record_id, text, where in records:
            yield self.classify(record_id, text, where)

    def absent(self) -> list[str]:
        """Stored ids not seen in the input so far (what `--prune` deletes), in stored order."""
        return [record_id for record_id in self._stored if record_id not in self._seen]


def settings_mismatch(stored: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    """One line naming the first vector-changing setting whose stored and run values differ, or None.

    A key missing from one side counts as None (older records lack newer keys)."""
    for key in VECTOR_SETTINGS:
        before, now = stored.get(key), run.get(key)
        if before != now:
            return f"the store was made with {key} {_show(before)} and this run uses {key} {_show(now)}"
    return None


def check_settings(path: str, stored: Mapping[str, Any], run: Mapping[str, Any]) -> None:
    """Raise UsageError (with the --rebuild hint) when the run's settings differ from the store's."""
    line = settings_mismatch(stored, run)
    if line is not None:
        raise UsageError(f"{path}: {line}", hint=REBUILD_HINT)


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)
