"""Writing search hits: JSON Lines (streamed, query by query), CSV and Parquet files, atomically.

A hit is (query, rank, id, score, text); `text` is left out (JSONL) or empty (CSV/Parquet null) when unknown.
Hits in a corpus of chunks (`embed --chunk`) also name the document and the span: `doc_id`, `start`, `end` (JSONL
keys; CSV and Parquet columns after `score`, present when the first hit has them).
Into a pipe, JSONL is flushed after each query, so `| head` ends the search early and quietly (`PipeClosed`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Iterable
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


def _json_line(hit: HitLike) -> bytes:
    row: dict[str, Any] = {"query": hit.query, "rank": hit.rank, "id": hit.id, "score": hit.score}
    if hit.span is not None:
        row["doc_id"], row["start"], row["end"] = hit.span
    if hit.text is not None:
        row["text"] = hit.text
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


def write_hits(hits: Iterable[HitLike], target: str | None, fmt: HitFormat) -> int:
    """Write `hits` to `target` (None or '-': stdout) as `fmt`; returns the number written. Files appear whole."""
    if target == STDIO:
        target = None
    if fmt is HitFormat.parquet:
        return _write_parquet(hits, target)
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
            count = _write_csv(hits, sink) if fmt is HitFormat.csv else _write_jsonl(hits, sink)
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


def _write_csv(hits: Iterable[HitLike], sink: Any) -> int:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    spans, hits = _with_spans(hits)
    writer.writerow(COLUMNS[:4] + SPAN_COLUMNS + COLUMNS[4:] if spans else COLUMNS)
    count = 0
    for hit in hits:
        row: list[Any] = [hit.query, hit.rank, hit.id, repr(hit.score)]
        if spans:
            row += list(hit.span or ("", "", ""))
        writer.writerow([*row, "" if hit.text is None else hit.text])
        count += 1
    text.flush()
    text.detach()
    return count


def _write_parquet(hits: Iterable[HitLike], target: str | None) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    spans, hits = _with_spans(hits)
    fields = [("query", pa.string()), ("rank", pa.int32()), ("id", pa.string()), ("score", pa.float64())]
    if spans:
        fields += [("doc_id", pa.string()), ("start", pa.int64()), ("end", pa.int64())]
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
            columns: list[list[Any]] = [[] for _ in schema.names]
            for hit in hits:
                values: tuple[Any, ...] = (hit.query, hit.rank, hit.id, hit.score)
                if spans:
                    values += hit.span or (None, None, None)
                for column, value in zip(columns, (*values, hit.text), strict=True):
                    column.append(value)
                count += 1
                if len(columns[0]) >= ROWS_PER_GROUP:
                    writer.write_table(pa.table(columns, schema=schema))
                    columns = [[] for _ in schema.names]
            writer.write_table(pa.table(columns, schema=schema))
        finally:
            # Closed inside the target's scope: a close that fails (a full disk) still removes the temporary file.
            writer.close()
    return count
