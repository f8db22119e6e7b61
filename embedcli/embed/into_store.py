"""`embed -o NAME.lance`: bring a vector store up to date with the input, embedding only what is new or changed.

The store keeps, per row, the id, the text, a content hash of exactly what was embedded (prompt + text) and the
vector; its provenance (model, backend, every setting that changes a vector) is the store's schema metadata. A run
whose settings differ is refused before anything is embedded (`--rebuild` starts the store afresh). A store of
chunks (`embed --chunk`) records the chunking among its settings and keeps each chunk's `doc_id`, `chunk`, `start`
and `end` as columns; a store made with `embed --keep-columns` records the kept columns among its settings, holds
them as columns (typed from the first rows) and hashes them with each row's text. Rows are committed in batches
as new versions, so a crash leaves the last committed version and a re-run resumes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedcli.embed.incremental import Incoming, IncrementalSummary, check_settings, update_store
from embedcli.embed.pipeline import EmbeddingRun
from embedcli.errors import UsageError
from embedcli.formats.lance_store import LanceStore, column_types, create_store, is_store, open_store
from embedcli.precision import Precision
from embedcli.provenance import Provenance
from embedcli.records import Record, columns_of

# Rows read ahead to type the kept columns of a new store (the Parquet writer types them from its first batch).
TYPED_FROM_ROWS = 1_024


@dataclass(frozen=True)
class StoreOptions:
    """How a run treats an existing store: `prune` deletes ids absent from the input; `rebuild` re-embeds all."""

    prune: bool = False
    rebuild: bool = False
    commit_rows: int = 4_096
    commit_seconds: float = 5.0


@dataclass
class StoreOutcome:
    summary: IncrementalSummary
    provenance: Provenance
    version: int
    rows: int


def embed_into_store(
    path: str,
    run: EmbeddingRun,
    records: Iterable[Record],
    keep_text: bool,
    options: StoreOptions,
    on_progress: Callable[[int], None] | None = None,
    embed_texts: Callable[[list[str]], np.ndarray] | None = None,
    digest: Callable[[str], str] | None = None,
    embed_rows: int | None = None,
    recorded: Mapping[str, Any] | None = None,
    columns: Sequence[tuple[str, str]] = (),
    kept: Sequence[str] = (),
) -> StoreOutcome:
    """Update the store at `path` (created when absent) from `records`, embedding with `run`.

    Raises UsageError when the run's settings differ from the store's (with the --rebuild hint) or when the
    store holds texts and this run is asked not to (or the reverse); InputError on a duplicate id.
    `embed_texts` (another engine's, e.g. Ray actors, or the media path) replaces `run` for the embedding itself;
    `run` still states the settings and provenance. `digest` hashes a record's text instead of prompt + text
    (images and sounds: the text is a handle on a file, hashed by its bytes); `embed_rows` records per embed call.
    `recorded` adds settings to the run's provenance (`chunking`), compared with the store's like the others;
    `columns` are the other columns a new store gets (`CHUNK_FIELDS`), filled from the records' kept columns;
    `kept` names the columns `--keep-columns` carried: recorded as a setting (`keep_columns`), and a new store gets
    them after `columns`, typed from the first `TYPED_FROM_ROWS` records. Raises InputError when a kept value
    does not fit its column's type.
    """
    if kept:
        recorded = {**(recorded or {}), "keep_columns": list(kept)}

    def provenance() -> Provenance:
        return Provenance.from_dict({**run.provenance().to_dict(), **(recorded or {})})

    wanted = provenance()
    precision = run.settings.precision
    if is_store(path) and not options.rebuild:
        store = open_store(path)
        check_settings(path, store.provenance, wanted.to_dict())
        if store.has_text != keep_text:
            raise UsageError(
                f"{path} {'holds' if store.has_text else 'does not hold'} texts, and this run asks the opposite",
                hint="drop --no-text (or add it) to match the store, or pass --rebuild",
            )
        _reuse_ranges(run, store, precision)
    else:
        typed: list[tuple[str, Any]] = list(columns)
        if kept:
            rows = iter(records)
            ahead = list(itertools.islice(rows, TYPED_FROM_ROWS))
            typed += column_types({name: [(columns_of(r) or {}).get(name) for r in ahead] for name in kept})
            records = itertools.chain(ahead, rows)
        store = create_store(
            path, wanted.to_dict(), precision, run.dimension, keep_text, rebuild=options.rebuild, columns=typed
        )
    had_ranges = store.provenance.get("quantization_ranges") is not None
    embedded = 0

    def embed(texts: list[str]) -> np.ndarray:
        nonlocal embedded
        if embed_texts is not None:
            vectors = embed_texts(texts)
        else:
            vectors = np.concatenate([b.vectors for b in run.batches(Record(str(i), t) for i, t in enumerate(texts))])
        embedded += len(texts)
        if on_progress is not None:
            on_progress(embedded)
        return vectors

    summary = update_store(
        store,
        _triples(records, store.columns),
        embed,
        prompt=run.backend.options.prompt or "",
        prune=options.prune,
        # Another engine spreads each call over its workers: hand it a commit's worth at a time.
        embed_rows=embed_rows or (options.commit_rows if embed_texts is not None else 256),
        commit_rows=options.commit_rows,
        commit_seconds=options.commit_seconds,
        digest=digest,
    )
    final = provenance()
    new_ranges = final.quantization_ranges is not None and not had_ranges  # int8/uint8: measured on batch one
    moved = final.media_root != store.provenance.get("media_root")  # files read from another folder this time
    if new_ranges or moved:
        store.update_provenance(final.to_dict())
    store.refresh()
    return StoreOutcome(summary, Provenance.from_dict(store.provenance), store.version, store.count_rows())


def _reuse_ranges(run: EmbeddingRun, store: LanceStore, precision: Precision) -> None:
    """int8/uint8 codes only compare under one calibration: a later run quantizes with the store's ranges."""
    ranges = store.provenance.get("quantization_ranges")
    if precision in (Precision.int8, Precision.uint8) and ranges is not None:
        run.use_ranges(np.asarray(ranges, dtype=np.float32))


def _triples(records: Iterable[Record], names: Sequence[str]) -> Iterator[Incoming]:
    """(id, text, where[, columns]) for the planner; `where` names a record in messages about duplicate ids. Only
    the store's own other columns (`names`) go along: a document's title, kept by the reader, does not."""
    for number, record in enumerate(records, start=1):
        where = f"record {number:,} (id {record.id!r})"
        if not names:
            yield record.id, record.text, where
        else:
            kept = columns_of(record) or {}
            yield record.id, record.text, where, {name: kept.get(name) for name in names}
