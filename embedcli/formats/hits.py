"""Writing search hits: JSON Lines (streamed, query by query), CSV and Parquet files, atomically.

A hit is (query, rank, id, score, text); `text` is left out (JSONL) or empty (CSV/Parquet null) when unknown.
Hits in a corpus of chunks (`embed --chunk`) also name the document and the span: `doc_id`, `start`, `end` (JSONL
keys; CSV and Parquet columns after `score`, present when the first hit has them). Hits that carry corpus columns
(`columns`: e.g. those `embed --keep-columns` kept) have them next, before `text`, in the order `columns` names them;
a hit file of a corpus without such columns has exactly the fields above.
Into a pipe, JSONL is flushed after each query, so `| head` ends the search early and quietly (`PipeClosed`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from embedcli.formats import STDIO, HitFormat
from embedcli.formats.outputs import AtomicTarget, StdoutBytes, naming_write_errors

ROWS_PER_GROUP = 65_536
COLUMNS = ("query", "rank", "id", "score", "text")
SPAN_COLUMNS = ("doc_id", "start", "end")


class HitLike(Protocol):
    @property
    def query(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def text(self) -> str | None: ...
    @property
    def span(self) -> tuple[str, int, int] | None: ...
    @property
    def columns(self) -> dict[str, Any] | None: ...


def _json_line(hit: HitLike) -> bytes:
    row: dict[str, Any] = {"query": hit.query, "rank": hit.rank, "id": hit.id, "score": hit.score}
    if hit.span is not None:
        row["doc_id"], row["start"], row["end"] = hit.span
    if hit.columns:
        row.update(hit.columns)
    if hit.text is not None:
        row["text"] = hit.text
    # A value JSON has no type for (a decimal, bytes) is written as its str().
    return orjson.dumps(row, default=str, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def write_hits(
    hits: Iterable[HitLike], target: str | None, fmt: HitFormat, columns: Mapping[str, Sequence[Any]] | None = None
) -> int:
    """Write `hits` to `target` (None or '-': stdout) as `fmt`; returns the number written. Files appear whole.

    `columns` are the corpus columns the hits carry, whole (name -> a value per corpus row): they name the CSV
    header's and Parquet schema's extra columns, and give each Parquet column its type (strings when the values
    have no one Arrow type)."""
    if target == STDIO:
        target = None
    names = list(columns or {})
    if fmt is HitFormat.parquet:
        return _write_parquet(hits, target, columns or {})
    atomic = AtomicTarget(target, "." + fmt.value, stream=True) if target is not None else None
    try:
        with contextlib.ExitStack() as stack, naming_write_errors(target, atomic.temp if atomic else None):
            sink: Any
            if atomic is None:
                sink = StdoutBytes()
            elif atomic.direct:
                sink = atomic.stream()
            else:
                sink = stack.enter_context(open(atomic.path, "wb"))
            count = _write_csv(hits, sink, names) if fmt is HitFormat.csv else _write_jsonl(hits, sink)
            sink.flush()
        if atomic:
            atomic.commit()
    except BaseException:
        if atomic:
            atomic.abort()
        raise
    return count


def _write_jsonl(hits: Iterable[HitLike], sink: Any) -> int:
    count, current = 0, None
    pending: list[bytes] = []
    for hit in hits:
        if hit.query != current and pending:  # one query's hits are done: let the reader have them now
            sink.write(b"".join(pending))
            sink.flush()
            pending = []
        current = hit.query
        pending.append(_json_line(hit))
        count += 1
    sink.write(b"".join(pending))
    return count


def _with_spans(hits: Iterable[HitLike]) -> tuple[bool, Iterable[HitLike]]:
    """Whether the hits name spans (judged by the first), and the hits, none lost to the look."""
    iterator = iter(hits)
    first = next(iterator, None)
    if first is None:
        return False, []
    return first.span is not None, itertools.chain([first], iterator)


def _csv_value(value: Any) -> Any:
    """A column value as a CSV cell: empty for null, JSON for lists and mappings, else as csv writes it."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return orjson.dumps(value, default=str).decode()
    return value


def _write_csv(hits: Iterable[HitLike], sink: Any, names: list[str]) -> int:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    spans, hits = _with_spans(hits)
    writer.writerow([*COLUMNS[:4], *(SPAN_COLUMNS if spans else ()), *names, COLUMNS[4]])
    count = 0
    for hit in hits:
        row: list[Any] = [hit.query, hit.rank, hit.id, repr(hit.score)]
        if spans:
            row += list(hit.span or ("", "", ""))
        values = hit.columns or {}
        row += [_csv_value(values.get(name)) for name in names]
        writer.writerow([*row, "" if hit.text is None else hit.text])
        count += 1
    text.flush()
    text.detach()
    return count


def _arrow_types(columns: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Each column's Arrow type, read from all its values; None where they have no one type (written as strings),
    and string for a column of nulls only."""
    import pyarrow as pa

    types: dict[str, Any] = {}
    for name, values in columns.items():
        try:
            kind = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            types[name] = None
            continue
        types[name] = pa.string() if pa.types.is_null(kind) else kind
    return types


def _write_parquet(hits: Iterable[HitLike], target: str | None, columns: Mapping[str, Sequence[Any]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    spans, hits = _with_spans(hits)
    fields = [("query", pa.string()), ("rank", pa.int32()), ("id", pa.string()), ("score", pa.float64())]
    if spans:
        fields += [("doc_id", pa.string()), ("start", pa.int64()), ("end", pa.int64())]
    types = _arrow_types(columns)
    as_text = {name for name, kind in types.items() if kind is None}
    fields += [(name, pa.string() if kind is None else kind) for name, kind in types.items()]
    schema = pa.schema([*fields, ("text", pa.string())])
    count = 0
    with (
        AtomicTarget(target, ".parquet", stream=True) as atomic,
        naming_write_errors(target, atomic.temp),
    ):
        # A device or FIFO is written straight, through a stream that counts its position for pyarrow.
        sink = pa.PythonFile(atomic.stream(), mode="w") if atomic.direct else atomic.path
        writer = pq.ParquetWriter(sink, schema, compression="zstd")
        try:
            rows: list[list[Any]] = [[] for _ in schema.names]
            for hit in hits:
                values: tuple[Any, ...] = (hit.query, hit.rank, hit.id, hit.score)
                if spans:
                    values += hit.span or (None, None, None)
                kept = hit.columns or {}
                values += tuple(_as_text(kept.get(name)) if name in as_text else kept.get(name) for name in types)
                for column, value in zip(rows, (*values, hit.text), strict=True):
                    column.append(value)
                count += 1
                if len(rows[0]) >= ROWS_PER_GROUP:
                    writer.write_table(pa.table(rows, schema=schema))
                    rows = [[] for _ in schema.names]
            writer.write_table(pa.table(rows, schema=schema))
        finally:
            # Closed inside the target's scope: a close that fails (a full disk) still removes the temporary file.
            writer.close()
    return count


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode() if isinstance(value, (list, tuple, dict)) else str(value)
