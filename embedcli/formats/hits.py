"""Writing search hits: JSON Lines (streamed, query by query), CSV and Parquet files, atomically.

A hit is (query, rank, id, score, text); `text` is left out (JSONL) or empty (CSV/Parquet null) when unknown.
Into a pipe, JSONL is flushed after each query, so `| head` ends the search early and quietly (`PipeClosed`).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from embedcli.formats import STDIO, HitFormat
from embedcli.formats.outputs import AtomicTarget, StdoutBytes, naming_write_errors

ROWS_PER_GROUP = 65_536
COLUMNS = ("query", "rank", "id", "score", "text")


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


def _json_line(hit: HitLike) -> bytes:
    row: dict[str, Any] = {"query": hit.query, "rank": hit.rank, "id": hit.id, "score": hit.score}
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


def _write_csv(hits: Iterable[HitLike], sink: Any) -> int:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    count = 0
    for hit in hits:
        writer.writerow([hit.query, hit.rank, hit.id, repr(hit.score), "" if hit.text is None else hit.text])
        count += 1
    text.flush()
    text.detach()
    return count


def _write_parquet(hits: Iterable[HitLike], target: str | None) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("query", pa.string()),
            ("rank", pa.int32()),
            ("id", pa.string()),
            ("score", pa.float64()),
            ("text", pa.string()),
        ]
    )
    count = 0
    with (
        AtomicTarget(target, ".parquet", stream=True) as atomic,
        naming_write_errors(target, atomic.temp),
    ):
        # A device or FIFO is written straight, through a stream that counts its position for pyarrow.
        sink = pa.PythonFile(atomic.stream(), mode="w") if atomic.direct else atomic.path
        writer = pq.ParquetWriter(sink, schema, compression="zstd")
        try:
            columns: list[list[Any]] = [[] for _ in COLUMNS]
            for hit in hits:
                for column, value in zip(columns, (hit.query, hit.rank, hit.id, hit.score, hit.text), strict=True):
                    column.append(value)
                count += 1
                if len(columns[0]) >= ROWS_PER_GROUP:
                    writer.write_table(pa.table(columns, schema=schema))
                    columns = [[] for _ in COLUMNS]
            writer.write_table(pa.table(columns, schema=schema))
        finally:
            # Closed inside the target's scope: a close that fails (a full disk) still removes the temporary file.
            writer.close()
    return count
