"""A vector store that grows: a Lance dataset of (id, text, content_hash, embedding) with versioned commits.

A store of chunks (`embed --chunk`) also has the columns `doc_id`, `chunk`, `start`, `end` (`CHUNK_FIELDS`), after
the embedding, and a store made with `embed --keep-columns` the kept columns, typed from the first rows
(`column_types`); reads hand such extra columns on as the rows' columns, as a Parquet file's are.

Every write (an upsert of a batch, a delete) is one atomic commit and makes a new version; a crash leaves the
store at its last commit, and any older version stays readable. The provenance (model and every setting that
changes a vector) is JSON in the schema metadata under `METADATA_KEY`, as in Parquet and Arrow outputs.

Rows are keyed by `id`: the field is declared as Lance's (unenforced) primary key, which makes two concurrent
upserts of the same new id a commit conflict that Lance retries instead of a duplicated row. Writers of embedcli
also take `store_lock`, so one run at a time writes a store and a second one stops with a clear message.
pylance is an optional extra: without it every entry point raises UsageError with the install hint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from embedcli.errors import EmbedcliError, InputError, UsageError
from embedcli.precision import Precision
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch, VectorTable

METADATA_KEY = b"embedcli"
INSTALL_HINT = "pip install 'embedcli[store]'"
LOCK_NAME = "_embedcli.lock"
ID, TEXT, HASH, EMBEDDING = "id", "text", "content_hash", "embedding"
_PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}
_VALUE_TYPES = {"float32": "float32", "float16": "float16", "int8": "int8", "uint8": "uint8"}
# The columns of a store of chunks: (name, Arrow type alias), as `embed --chunk` writes them into a vector file.
CHUNK_FIELDS = (("doc_id", "string"), ("chunk", "int64"), ("start", "int64"), ("end", "int64"))


class StoreBusy(EmbedcliError):
    """Another process is writing the store."""


def import_lance() -> ModuleType:
    """The `lance` module, or UsageError with the install hint when pylance is not installed."""
    try:
        import lance
    except ImportError:
        raise UsageError("Lance stores (.lance) need the pylance package", hint=INSTALL_HINT) from None
    return lance


def is_store(path: str | Path) -> bool:
    """Whether `path` is a Lance dataset directory (it has committed versions)."""
    return (Path(path) / "_versions").is_dir()


def column_types(values: Mapping[str, Sequence[Any]]) -> list[tuple[str, Any]]:
    """(name, Arrow type) of each column, from the values of its first rows (all None: string), for a new store's
    kept columns. Raises InputError naming the column when its values have no one type (`3` and `"three"`)."""
    import pyarrow as pa

    types: list[tuple[str, Any]] = []
    for name, given in values.items():
        try:
            kind = pa.array(list(given)).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise InputError(
                f"column '{name}': its first rows hold values of more than one type ({first_line(exc)})",
                hint="a kept column needs one type in every row (e.g. all numbers, or all strings)",
            ) from None
        types.append((name, pa.string() if pa.types.is_null(kind) else kind))
    return types


def store_schema(
    provenance: dict[str, Any],
    precision: Precision,
    dimension: int,
    with_text: bool = True,
    columns: Sequence[tuple[str, Any]] = (),
) -> Any:
    """The Arrow schema of a store: id, [text], content_hash, embedding (fixed-size list of `precision.width`),
    then `columns` ((name, Arrow type or type alias) pairs, e.g. `CHUNK_FIELDS`), nullable."""
    import pyarrow as pa

    value_type = pa.from_numpy_dtype(precision.dtype)
    fields = [pa.field(ID, pa.string(), nullable=False, metadata=_PRIMARY_KEY)]
    if with_text:
        fields.append(pa.field(TEXT, pa.string()))
    fields.append(pa.field(HASH, pa.string(), nullable=False))
    fields.append(pa.field(EMBEDDING, pa.list_(value_type, precision.width(dimension)), nullable=False))
    fields += [pa.field(name, pa.type_for_alias(kind) if isinstance(kind, str) else kind) for name, kind in columns]
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(provenance, sort_keys=True).encode()})


@dataclass(frozen=True)
class StoreVersion:
    """One committed version. `operation` is one of create, rebuild, upsert, insert, delete, provenance (or Lance's
    own operation name, lower-cased, for commits made by other tools); counts are None where not derivable."""

    number: int
    timestamp: datetime
    rows: int
    operation: str
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None


@contextmanager
def store_lock(path: str | Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the store's writer lock (an advisory `flock` inside the store directory) for the block.

    The lock dies with its process, so a killed writer never leaves the store locked. Waits up to
    `wait_seconds` for another writer to finish, then raises StoreBusy. The directory is created if missing.
    """
    import time

    try:
        import fcntl
    except ImportError:  # no flock (Windows): Lance's own commit conflicts still keep the store whole
        yield
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(path) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"{path}: another process is writing this store",
                        hint="run again when it has finished",
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def create_store(
    path: str | Path,
    provenance: dict[str, Any],
    precision: Precision,
    dimension: int,
    with_text: bool = True,
    rebuild: bool = False,
    columns: Sequence[tuple[str, Any]] = (),
) -> LanceStore:
    """Create an empty store at `path` (version 1), or with `rebuild` replace an existing store's rows and
    provenance by a new empty version (older versions stay readable); `columns` as in `store_schema`. Raises
    UsageError when `path` is already a store and `rebuild` is false, InputError when `path` exists and is
    something else."""
    lance = import_lance()
    target = Path(path)
    if is_store(target) and not rebuild:
        raise UsageError(f"{path} is already a Lance store", hint="open it, or pass --rebuild to start it afresh")
    if target.exists() and not target.is_dir():
        raise InputError(f"{path} exists and is not a directory: cannot create a Lance store there")
    schema = store_schema(provenance, precision, dimension, with_text, columns)
    mode = "overwrite" if is_store(target) else "create"
    with lance_errors(path):
        dataset = lance.write_dataset(schema.empty_table(), str(target), mode=mode)
    return LanceStore(target, dataset)


def open_store(path: str | Path, version: int | None = None) -> LanceStore:
    """Open the store at its latest version, or at `version`. Raises InputError when `path` is not a store or
    the version does not exist, UsageError when pylance is missing."""
    lance = import_lance()
    if not is_store(path):
        raise InputError(f"{path} is not a Lance store (no _versions folder)")
    try:
        dataset = lance.dataset(str(path), version=version)
    except (OSError, ValueError, RuntimeError) as err:
        raise InputError(f"{path}: cannot open version {version}: {first_line(err)}") from None
    store = LanceStore(Path(path), dataset)
    missing = {ID, HASH, EMBEDDING} - set(dataset.schema.names)
    if missing:
        raise InputError(f"{path} is a Lance dataset but not an embedcli store: no {', '.join(sorted(missing))}")
    return store


class LanceStore:
    """An open store at one version. Reads never load the whole table; writes commit a new version and move
    this handle to it. Callers that write hold `store_lock` (StoreWriter does)."""

    def __init__(self, path: Path, dataset: Any) -> None:
        self.path = path
        self._dataset = dataset

    @property
    def version(self) -> int:
        return int(self._dataset.version)

    @property
    def latest_version(self) -> int:
        return int(self._dataset.latest_version)

    @property
    def provenance(self) -> dict[str, Any]:
        """The provenance recorded at creation (or last rebuild); {} for a store without one."""
        raw = (self._dataset.schema.metadata or {}).get(METADATA_KEY)
        return dict(json.loads(raw)) if raw else {}

    @property
    def has_text(self) -> bool:
        return TEXT in self._dataset.schema.names

    @property
    def columns(self) -> list[str]:
        """The store's other columns (after the embedding), e.g. a store of chunks' `doc_id`, `chunk`, `start`,
        `end`; [] for a plain store."""
        return [name for name in self._dataset.schema.names if name not in (ID, TEXT, HASH, EMBEDDING)]

    @property
    def width(self) -> int:
        """Stored values per row (dimension, or dimension / 8 for packed binary)."""
        return int(self._dataset.schema.field(EMBEDDING).type.list_size)

    @property
    def value_dtype(self) -> np.dtype:
        """The numpy dtype of the stored values (float32, float16, int8 or uint8)."""
        return np.dtype(self._dataset.schema.field(EMBEDDING).type.value_type.to_pandas_dtype())

    def count_rows(self) -> int:
        return int(self._dataset.count_rows())

    def checkout(self, version: int) -> LanceStore:
        """This store at another version (a new handle)."""
        return open_store(self.path, version)

    def hash_scanner(self, batch_rows: int = 65_536) -> Any:
        """A Lance scanner that projects only (id, content_hash): the embedding column is never read."""
        return self._dataset.scanner(columns=[ID, HASH], batch_size=batch_rows)

    def iter_hashes(self, batch_rows: int = 65_536) -> Iterator[tuple[list[str], list[str]]]:
        """(ids, content hashes) in batches of at most `batch_rows`, reading only those two columns."""
        for batch in self.hash_scanner(batch_rows).to_batches():
            yield batch.column(ID).to_pylist(), batch.column(HASH).to_pylist()

    def iter_batches(self, batch_rows: int = 8_192, with_text: bool = True) -> Iterator[EmbeddedBatch]:
        """The rows streamed as EmbeddedBatch (ids, texts, vectors of shape (n, width) in the stored dtype, and the
        store's other `columns` by name).

        `texts` is empty when the store has no text column or `with_text` is false."""
        others = self.columns
        columns = [ID, EMBEDDING] + ([TEXT] if with_text and self.has_text else []) + others
        for batch in self._dataset.scanner(columns=columns, batch_size=batch_rows).to_batches():
            if batch.num_rows == 0:
                continue
            values = batch.column(EMBEDDING).flatten().to_numpy(zero_copy_only=False)
            texts = batch.column(TEXT).to_pylist() if TEXT in columns else []
            ids = batch.column(ID).to_pylist()
            extra = {name: batch.column(name).to_pylist() for name in others}
            yield EmbeddedBatch(ids=ids, texts=texts, vectors=values.reshape(len(ids), self.width), columns=extra)

    def update_provenance(self, provenance: dict[str, Any]) -> None:
        """Replace the recorded provenance as one commit (e.g. to add int8/uint8 calibration ranges measured
        on the first batch). Rows are untouched."""
        with lance_errors(self.path):
            self._dataset.update_schema_metadata({METADATA_KEY.decode(): json.dumps(provenance, sort_keys=True)})
        self.refresh()

    def to_vector_table(self, with_text: bool = True) -> VectorTable:
        """The whole version in memory as a VectorTable (metadata = the provenance), for readers that need
        every row at once (exact search, reduce); `texts` is None when the store has none or not asked for."""
        batches = list(self.iter_batches(with_text=with_text))
        vectors = (
            np.concatenate([b.vectors for b in batches]) if batches else np.empty((0, self.width), self.value_dtype)
        )
        ids = [i for b in batches for i in b.ids]
        texts = [t for b in batches for t in b.texts] if with_text and self.has_text else None
        columns = {name: [v for b in batches for v in b.columns[name]] for name in self.columns}
        provenance = Provenance.from_dict(self.provenance)
        return VectorTable(ids=ids, vectors=vectors, texts=texts, provenance=provenance, columns=columns)

    def upsert(
        self,
        ids: Sequence[str],
        hashes: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> tuple[int, int]:
        """Insert or replace rows by id as one commit; returns (inserted, updated).

        `vectors` has shape (len(ids), width) and the store's dtype (converted losslessly or rejected); `columns`
        the values of the store's other columns by name (null where not given). Raises InputError naming the
        column when a value does not fit that column's type."""
        table = self._table(ids, hashes, vectors, texts, columns)
        builder = self._dataset.merge_insert(ID).when_matched_update_all().when_not_matched_insert_all()
        with lance_errors(self.path):
            stats = builder.execute(table)
        self.refresh()
        return int(stats["num_inserted_rows"]), int(stats["num_updated_rows"])

    def append(
        self,
        ids: Sequence[str],
        hashes: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> int:
        """Add rows known to be absent as one commit (cheaper than `upsert`: no join on id); returns the count.

        Only for ids read as absent under `store_lock`: an id already stored would then occur twice."""
        lance = import_lance()
        table = self._table(ids, hashes, vectors, texts, columns)
        with lance_errors(self.path):
            lance.write_dataset(table, self._dataset, mode="append")
        self.refresh()
        return len(ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete rows by id as one commit (none when `ids` is empty); returns how many were deleted."""
        import pyarrow as pa

        if not ids:
            return 0
        keys = pa.table({ID: pa.array(list(ids), pa.string())})
        with lance_errors(self.path):
            stats = self._dataset.merge_insert(ID).when_matched_delete().execute(keys)
        self.refresh()
        return int(stats["num_deleted_rows"])

    def versions(self) -> list[StoreVersion]:
        """Every version, oldest first, with its row count and (for commits of this module) what changed."""
        found: list[StoreVersion] = []
        previous = 0
        for entry in self._dataset.versions():
            number = int(entry["version"])
            rows = int(entry["metadata"]["total_rows"])
            transaction = self._dataset.read_transaction(number)
            operation = type(transaction.operation).__name__ if transaction is not None else "unknown"
            found.append(describe_change(number, entry["timestamp"], rows, previous, operation, transaction))
            previous = rows
        return found

    def size_bytes(self) -> int:
        """Bytes on disk under the store directory: every version's files, as `du` counts them."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def _table(
        self,
        ids: Sequence[str],
        hashes: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None,
        others: Mapping[str, Sequence[Any]] | None = None,
    ) -> Any:
        import pyarrow as pa

        schema = self._dataset.schema
        values = np.asarray(vectors)
        if values.shape != (len(ids), self.width) or len(hashes) != len(ids):
            raise ValueError(f"expected {len(ids)} hashes and vectors of shape ({len(ids)}, {self.width})")
        if values.dtype != self.value_dtype and not np.can_cast(values.dtype, self.value_dtype, "same_kind"):
            raise ValueError(f"vectors of dtype {values.dtype} do not fit a store of {self.value_dtype}")
        flat = pa.array(np.ascontiguousarray(values, dtype=self.value_dtype).ravel())
        columns: dict[str, Any] = {ID: pa.array(list(ids), pa.string())}
        if self.has_text:
            columns[TEXT] = pa.array(list(texts) if texts is not None else [None] * len(ids), pa.string())
        columns[HASH] = pa.array(list(hashes), pa.string())
        columns[EMBEDDING] = pa.FixedSizeListArray.from_arrays(flat, self.width)
        for name in self.columns:
            given = (others or {}).get(name)
            kind = schema.field(name).type
            try:
                columns[name] = pa.array(list(given) if given is not None else [None] * len(ids), kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                # The type came from the first rows the store was made with; JSON values may change type later.
                raise InputError(
                    f"{self.path}: column '{name}': a value does not fit the type {kind} the store holds "
                    f"({first_line(exc)})",
                    hint="a kept column needs one type in every row (e.g. all numbers, or all strings)",
                ) from None
        return pa.Table.from_arrays(list(columns.values()), schema=schema)

    def refresh(self) -> None:
        """Move this handle to the latest version (what other processes committed since it was opened)."""
        self._dataset = import_lance().dataset(str(self.path))


def describe_change(
    number: int, timestamp: datetime, rows: int, previous: int, operation: str, transaction: Any
) -> StoreVersion:
    """Name a commit and count its rows from Lance's transaction: a merge-insert's new fragments hold the
    inserted and updated rows, and this module never mixes upserts and deletes in one commit."""
    delta = rows - previous
    if operation == "Overwrite":
        return StoreVersion(number, timestamp, rows, "create" if number == 1 else "rebuild", inserted=rows)
    if operation == "Append":
        return StoreVersion(number, timestamp, rows, "insert", inserted=delta)
    if operation == "UpdateConfig":
        return StoreVersion(number, timestamp, rows, "provenance")
    if operation == "Delete":
        return StoreVersion(number, timestamp, rows, "delete", deleted=-delta)
    if operation == "Update":
        written = sum(int(f.physical_rows) for f in transaction.operation.new_fragments)
        if written == 0:
            return StoreVersion(number, timestamp, rows, "delete", deleted=-delta)
        return StoreVersion(number, timestamp, rows, "upsert", inserted=delta, updated=written - delta)
    return StoreVersion(number, timestamp, rows, operation.lower())


@contextmanager
def lance_errors(path: str | Path) -> Iterator[None]:
    """Turn Lance's commit failures into one-line errors. Lance retries compatible concurrent commits itself;
    what reaches here is a conflict it could not resolve (another tool rebuilt or rewrote the store)."""
    try:
        yield
    except (OSError, RuntimeError, ValueError) as err:
        text = str(err)
        if "onflict" in text or "ontention" in text:
            raise StoreBusy(
                f"{path}: another process changed the store during this commit: {first_line(err)}",
                hint="nothing half-written is visible; run again to continue",
            ) from None
        raise


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
