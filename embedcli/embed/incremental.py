"""Plan an incremental run: which input records are new, changed or unchanged against a store.

A record is unchanged when its id is stored with the same content hash (of exactly what is embedded: the text
after the prompt) and the store's settings equal the run's (`settings_mismatch`); only new and changed records
are embedded. A record with columns (a chunk's `doc_id`, `chunk`, `start`, `end`, the columns `--keep-columns`
carried) is hashed with them too, so a chunk whose text stays but moves within its document is written again, its
span right, and so is a row whose kept `genre` changed. The planner keeps the
stored (id -> hash) map and the ids seen so far, never any vector.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.formats.lance_store import LanceStore
from embedcli.formats.lance_writer import StoreWriter
from embedcli.provenance import vector_family

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
# Keys that differ between backends of one family (fp32 onnx records its pooling and quantize "none",
# sentence-transformers neither) without changing the vectors: compared through the family instead.
_FAMILY_KEYS = ("backend", "pooling", "quantize")
REBUILD_HINT = "pass --rebuild to embed everything again into this store, or write to another store"
# An input record for the planner: (id, text, where) or (id, text, where, the values of the store's other columns).
Incoming = tuple[str, str, str] | tuple[str, str, str, Mapping[str, Any] | None]


def content_hash(text: str) -> str:
    """The 32-hex-digit BLAKE2b-128 digest of `text` (UTF-8): the text after the prompt, as embedded."""
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates from undecodable input bytes: hash them as they are
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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
    columns: Mapping[str, Any] | None = None


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
    Hashes are of `prompt + text`, what the backends embed, unless `digest` maps a record's text to its hash (images
    and sounds: the text is a handle on a file, hashed by the file's bytes). `plan` raises InputError naming both
    places when an id occurs twice in the input.
    """

    def __init__(
        self,
        stored: Mapping[str, str] | Iterable[tuple[list[str], list[str]]],
        prompt: str = "",
        digest: Callable[[str], str] | None = None,
    ) -> None:
        self.prompt = prompt
        self.digest = digest
        if isinstance(stored, Mapping):
            self._stored = dict(stored)
        else:
            self._stored = {}
            for ids, hashes in stored:
                self._stored.update(zip(ids, hashes, strict=True))
        self._seen: dict[str, str] = {}
        self.summary = IncrementalSummary()

    def classify(
        self, record_id: str, text: str, where: str, columns: Mapping[str, Any] | None = None
    ) -> PlannedRecord:
        """The verdict for one record (with `columns`, the values of the store's other columns); counts it."""
        earlier = self._seen.get(record_id)
        if earlier is not None:
            raise InputError(
                f"id {record_id!r} occurs twice in the input: {earlier} and {where}",
                hint="ids must be unique; choose another --id-field",
            )
        self._seen[record_id] = where
        digest = self.digest(text) if self.digest is not None else content_hash(self.prompt + text)
        if columns:
            digest = content_hash(digest + json.dumps(columns, sort_keys=True, default=str))
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
        return PlannedRecord(record_id, text, where, change, digest, columns)

    def plan(self, records: Iterable[Incoming]) -> Iterator[PlannedRecord]:
        """Classify (id, text, where[, columns]) records lazily, in input order."""
        for record in records:
            yield self.classify(*record)

    def absent(self) -> list[str]:
        """Stored ids not seen in the input so far (what `--prune` deletes), in stored order."""
        return [record_id for record_id in self._stored if record_id not in self._seen]


def update_store(
    store: LanceStore,
    records: Iterable[Incoming],
    embed: Callable[[list[str]], np.ndarray],
    *,
    prompt: str = "",
    prune: bool = False,
    embed_rows: int = 256,
    commit_rows: int = 4_096,
    commit_seconds: float = 5.0,
    lock_wait_seconds: float = 0.0,
    digest: Callable[[str], str] | None = None,
) -> IncrementalSummary:
    """Bring `store` up to date with (id, text, where[, columns]) `records`: embed only new and changed texts,
    commit them in batches, then with `prune` delete the stored ids absent from the input (after every upsert, so
    a crash never prunes). `embed` maps a list of texts (without the prompt) to an array (n, store.width) in the
    store's dtype; `digest` replaces the hash of prompt + text (see `Planner`). Check the settings first
    (`check_settings`). Raises StoreBusy when another process writes the store, InputError on a duplicate id
    (rows committed before it stay, and a re-run skips them).
    """
    started = time.perf_counter()
    with StoreWriter(
        store, commit_rows=commit_rows, commit_seconds=commit_seconds, lock_wait_seconds=lock_wait_seconds
    ) as writer:
        # Read the hashes under the lock: another writer's rows committed before it are then seen as stored.
        planner = Planner(store.iter_hashes(), prompt=prompt, digest=digest)
        pending: list[PlannedRecord] = []
        for planned in planner.plan(records):
            if planned.change is not Change.unchanged:
                pending.append(planned)
            if len(pending) >= embed_rows:
                _embed_into(writer, pending, embed, planner.summary)
                pending = []
        _embed_into(writer, pending, embed, planner.summary)
        if prune:
            planner.summary.deleted = writer.delete(planner.absent())
    planner.summary.seconds = time.perf_counter() - started
    return planner.summary


def _embed_into(
    writer: StoreWriter, pending: list[PlannedRecord], embed: Callable[[list[str]], np.ndarray], summary: Any
) -> None:
    if not pending:
        return
    texts = [p.text for p in pending]
    vectors = embed(texts)
    summary.embedded += len(texts)
    new = all(p.change is Change.new for p in pending)
    names = dict.fromkeys(name for p in pending for name in p.columns or {})
    columns = {name: [(p.columns or {}).get(name) for p in pending] for name in names}
    writer.add([p.id for p in pending], [p.hash for p in pending], vectors, texts, new=new, columns=columns)


def settings_mismatch(stored: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    """One line naming the first vector-changing setting whose stored and run values differ, or None.

    A key missing from one side counts as None (older records lack newer keys). fp32 onnx and sentence-transformers
    of the same model files are one family (`Provenance.family`): a store made by one is extended by the other."""
    before_family = vector_family(stored.get("backend"), stored.get("quantize"))
    now_family = vector_family(run.get("backend"), run.get("quantize"))
    if before_family is not None and now_family is not None and before_family != now_family:
        return f"the store holds {before_family} vectors and this run makes {now_family} vectors"
    one_family = before_family is not None and before_family == now_family
    for key in VECTOR_SETTINGS:
        if one_family and key in _FAMILY_KEYS:
            continue
        before, now = stored.get(key), run.get(key)
        if before != now:
            return f"the store was made with {key} {_show(before)} and this run uses {key} {_show(now)}"
    before, now = stored.get("chunking"), run.get("chunking")
    if before != now:  # other chunks are other rows: a store holds one chunking
        made = f"with {_chunking(before)}" if before else "without --chunk"
        uses = f"uses {_chunking(now)}" if now else "has no --chunk"
        return f"the store was made {made} and this run {uses}"
    before, now = stored.get("keep_columns"), run.get("keep_columns")
    if set(before or ()) != set(now or ()):  # the kept columns are the store's columns, and in each row's hash
        made = f"with --keep-columns {','.join(before)}" if before else "without --keep-columns"
        uses = f"uses --keep-columns {','.join(now)}" if now else "has no --keep-columns"
        return f"the store was made {made} and this run {uses}"
    return None


def _chunking(recorded: Mapping[str, Any]) -> str:
    """A recorded chunking as the options that made it: `--chunk 200 --overlap 20`."""
    return " ".join(f"--{key} {recorded[key]}" for key in ("chunk", "overlap", "pool") if recorded.get(key) is not None)


def check_settings(path: str, stored: Mapping[str, Any], run: Mapping[str, Any]) -> None:
    """Raise UsageError (with the --rebuild hint) when the run's settings differ from the store's."""
    line = settings_mismatch(stored, run)
    if line is not None:
        raise UsageError(f"{path}: {line}", hint=REBUILD_HINT)


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)
