"""Reading vector tables back: Parquet, Arrow file or stream, NPY (memory-mapped) and JSONL, from files or stdin.

The format comes from the suffix, or from the first bytes on stdin (an Arrow stream is the pipe default).

One rule for failures: a missing path or a bad option is a UsageError (exit 2); a file that exists but whose
content cannot be used (not the format, truncated, wrong shape, object arrays) is an InputError (exit 1). An Arrow
stream that ends without its end-of-stream marker is a cut stream (the command writing it failed or was killed),
never a shorter table.
"""

from __future__ import annotations

import contextlib
import mmap
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import orjson

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, VECTOR_SUFFIXES, OutputFormat, data_suffix
from embedcli.formats.lance_store import is_store, open_store
from embedcli.formats.outputs import METADATA_KEY
from embedcli.formats.sources import check_readable, spooled_stdin
from embedcli.precision import Precision, dequantize
from embedcli.provenance import Provenance
from embedcli.records import RowIds, VectorTable

# The Arrow IPC end-of-stream marker: a continuation token, then a zero metadata length.
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"

_MAGIC = [
    (b"PAR1", OutputFormat.parquet),
    (b"ARROW1", OutputFormat.arrow),
    (b"\x93NUMPY", OutputFormat.npy),
    (b"\xff\xff\xff\xff", OutputFormat.arrows),
    (b"{", OutputFormat.jsonl),
]


def sniff_format(head: bytes) -> OutputFormat | None:
    """The vector format that `head` (the first bytes of a stream) starts like, if any."""
    stripped = head.lstrip()
    for magic, fmt in _MAGIC:
        if stripped.startswith(magic):
            return fmt
    return None


def vector_format_for(path: str, override: OutputFormat | None = None) -> OutputFormat | None:
    """The vector format of `path` by override or suffix; None for stdin or an unknown suffix (sniff it)."""
    if override is not None:
        return override
    if path == STDIO:
        return None
    return VECTOR_SUFFIXES.get(data_suffix(path))


# Formats that must seek: read from stdin only through a spool.
_SEEKING = frozenset({OutputFormat.npy, OutputFormat.parquet, OutputFormat.arrow})


@contextlib.contextmanager
def vector_input(
    path: str, fmt: OutputFormat | None = None, reread: bool = False
) -> Iterator[tuple[str, OutputFormat]]:
    """The one way in for a vector file or stream: its format (`fmt`, else the suffix, else sniffed from the first
    bytes) and a path to read it from. A file is read in place. stdin ('-') is spooled to a temporary file
    (`sources.spooled_stdin`, removed when the block ends) when it is read more than once (`reread`) or its format
    must seek (NPY, Parquet, Arrow file); else the path given is '-' and the reader streams stdin (an Arrow stream,
    JSON Lines).

    Raises UsageError for an unreadable path or nothing on stdin, InputError when the first bytes are no vector
    format.
    """
    check_readable(path)
    fmt = vector_format_for(path, fmt)
    if path != STDIO:
        if fmt is None:
            with open(path, "rb") as f:
                fmt = sniffed(f.read(8), path)
        yield path, fmt
        return
    stream = sys.stdin.buffer
    head = b""  # bytes taken from stdin to sniff it, when it cannot be peeked at: they go into the spool
    if fmt is None:
        if hasattr(stream, "peek"):
            first = stream.peek(8)[:8]
        else:
            first = head = stream.read(8)
        if not first:
            raise UsageError(
                "no input on stdin", hint="pipe vectors in, e.g. `embedcli embed docs.txt | embedcli similar - QUERY`"
            )
        fmt = sniffed(first, "<stdin>")
    if reread or head or fmt in _SEEKING:
        with spooled_stdin(head) as spooled:
            yield spooled, fmt
    else:
        yield STDIO, fmt


def sniffed(head: bytes, name: str) -> OutputFormat:
    """The vector format `head` (the first bytes of `name`) starts like; InputError when it is none of them."""
    fmt = sniff_format(head)
    if fmt is None:
        raise InputError(
            f"{name}: not a vector file embedcli knows",
            hint="expected Parquet, Arrow, NPY or JSONL (as written by `embedcli embed`)",
        )
    return fmt


def read_vector_table(
    path: str,
    fmt: OutputFormat | None = None,
    vector_column: str = "embedding",
    mmap: bool = True,
    version: int | None = None,
) -> VectorTable:
    """Read a whole vector table. NPY files are memory-mapped (read-only) unless `mmap` is False; a Lance store is
    read at its latest version, or at `version`.

    Raises InputError when the content is not a vector table, UsageError when the path cannot be read.
    """
    if path != STDIO and is_store(path):
        return open_store(path, version).to_vector_table()
    if version is not None:
        raise UsageError("--version reads an older version of a store (.lance); this input has none")
    name = "<stdin>" if path == STDIO else path
    with vector_input(path, fmt) as (real, fmt):
        try:
            if fmt is OutputFormat.npy:
                vectors = np.load(real, mmap_mode="r" if mmap and path != STDIO else None)
                if vectors.ndim != 2:
                    raise InputError(f"{name}: expected a 2-D matrix, got shape {vectors.shape}")
                return VectorTable(ids=RowIds(len(vectors)), vectors=vectors)
            if fmt is OutputFormat.jsonl:
                return _read_jsonl(real, name, vector_column)
            return vector_table_from_arrow(_read_arrow(real, name, fmt), name, vector_column)
        except (InputError, UsageError):
            raise
        except (OSError, ValueError, EOFError) as exc:  # np.load says EOFError for an empty file
            raise InputError(f"{name}: cannot read as {fmt.value}: {exc or 'no data'}") from None


def _read_arrow(path: str, name: str, fmt: OutputFormat) -> Any:
    """An Arrow table from a file, or from '-' (an Arrow stream on stdin)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt is OutputFormat.arrows:
        return _read_arrow_stream(path, name)
    try:
        if fmt is OutputFormat.parquet:
            return pq.read_table(path)
        return pa.ipc.open_file(pa.memory_map(path)).read_all()
    except pa.ArrowInvalid as exc:
        raise InputError(f"{name}: not a valid {fmt.value} file ({exc})") from None


def stream_ended_early(name: str) -> InputError:
    """The error for an Arrow stream with no end-of-stream marker."""
    return InputError(
        f"{name}: the input stream ended early: did the command before this one fail?",
        hint="an Arrow stream ends with an end-of-stream marker; this one was cut off",
    )


def check_stream_end(path: str, name: str) -> None:
    """Raise stream_ended_early unless the Arrow stream file at `path` ends with the end-of-stream marker."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - len(ARROW_EOS)))
        if f.read() != ARROW_EOS:
            raise stream_ended_early(name)


class _TailRecorder:
    """A binary stream that remembers the last bytes read from it and whether it reached its end."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.tail = b""
        self.at_end = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if size is None or size < 0 or len(data) < size:
            self.at_end = True  # a buffered read returns short only at the end
        self.tail = (self.tail + data)[-len(ARROW_EOS) :]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _read_arrow_stream(path: str, name: str) -> Any:
    import pyarrow as pa

    if path != STDIO:
        check_stream_end(path, name)
        try:
            return pa.ipc.open_stream(pa.memory_map(path)).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{name}: not a valid arrows stream ({exc})") from None
    recorder = _TailRecorder(sys.stdin.buffer)
    try:
        table = pa.ipc.open_stream(pa.PythonFile(recorder, mode="r")).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        if recorder.at_end:
            raise stream_ended_early(name) from None
        raise InputError(f"{name}: not a valid arrows stream ({exc})") from None
    if recorder.tail != ARROW_EOS:
        raise stream_ended_early(name)
    return table


def provenance_of(schema: Any) -> Provenance:
    """The provenance recorded in an Arrow schema; empty for tables from elsewhere."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return Provenance.from_dict(orjson.loads(raw) if raw else None)


def vector_table_from_arrow(table: Any, name: str, vector_column: str) -> VectorTable:
    """The one conversion of an Arrow table (id, text, vector column, others) into a VectorTable.

    Raises InputError when the vector column is missing, holds no vectors, or has rows of different lengths.
    """
    import pyarrow as pa

    if vector_column not in table.column_names:
        raise InputError(
            f"{name}: no vector column '{vector_column}'",
            hint=f"columns here: {', '.join(table.column_names)}",
        )
    column = table.column(vector_column).combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
        values = column.flatten().to_numpy(zero_copy_only=False)
        vectors = values.reshape(len(column), width)
    elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        rows = column.to_pylist()
        widths = {len(r) for r in rows if r is not None}
        if len(widths) > 1 or any(r is None for r in rows):
            raise InputError(f"{name}: vectors in '{vector_column}' have different lengths or are missing")
        vectors = np.asarray(rows, dtype=np.float32)
    else:
        raise InputError(f"{name}: column '{vector_column}' holds {column.type}, not vectors")
    if column.null_count:
        raise InputError(f"{name}: {column.null_count} rows have no vector")
    n = len(vectors)
    ids = [str(v) for v in table.column("id").to_pylist()] if "id" in table.column_names else None
    texts = table.column("text").to_pylist() if "text" in table.column_names else None
    others = {c: table.column(c).to_pylist() for c in table.column_names if c not in ("id", "text", vector_column)}
    return VectorTable(
        ids=ids or [str(i) for i in range(1, n + 1)],
        vectors=vectors,
        texts=texts,
        provenance=provenance_of(table.schema),
        columns=others,
    )


def _read_jsonl(path: str, name: str, vector_column: str) -> VectorTable:
    ids: list[str] = []
    texts: list[Any] = []
    rows: list[list[float]] = []
    others: dict[str, list[Any]] = {}
    for number, row in _jsonl_rows(path, name):
        if vector_column not in row:
            raise InputError(f"{name}:{number}: no field '{vector_column}'")
        rows.append(row[vector_column])
        ids.append(str(row.get("id", number)))
        texts.append(row.get("text"))
        for key, value in row.items():
            if key not in ("id", "text", vector_column):
                # A field first seen on a later row is null on the rows before it.
                others.setdefault(key, [None] * (len(rows) - 1)).append(value)
        for values in others.values():
            if len(values) < len(rows):
                values.append(None)
    if not rows:
        raise InputError(f"{name}: no vectors")
    try:
        vectors = np.asarray(rows, dtype=np.float32)
    except ValueError:
        raise InputError(f"{name}: vectors have different lengths") from None
    has_text = any(t is not None for t in texts)
    return VectorTable(ids=ids, vectors=vectors, texts=texts if has_text else None, columns=others)


def _jsonl_rows(path: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    stream = sys.stdin.buffer if path == STDIO else open(path, "rb")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{name}:{number}: not valid JSON ({exc})") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


class StoredPrecision(NamedTuple):
    """How a table's stored values become float32 vectors: its precision, a decoder (None: read as float32) and
    the dimension of the decoded vectors (8 per stored byte for binary precisions). `note` says what was assumed.
    """

    precision: Precision
    decode: Callable[[np.ndarray], np.ndarray] | None
    dimension: int
    note: str | None = None


def stored_precision(table: VectorTable, name: str) -> StoredPrecision:
    """Read the table's precision from its metadata ("precision", "quantization_ranges"), else from its dtype.

    int8/uint8 values are turned back into floats with their calibration ranges, binary values into ±1 vectors, so
    search compares what the values stand for, not the raw codes. Raises InputError when the metadata is unusable.
    """
    width = table.vectors.shape[1]
    recorded = table.provenance.precision
    if recorded is None:
        if table.vectors.dtype.kind in "iu":
            note = f"{name}: {table.vectors.dtype} vectors with no recorded precision are read as plain numbers"
            return StoredPrecision(Precision.float32, None, width, note)
        return StoredPrecision(Precision.float32, None, width)
    try:
        precision = Precision(recorded)
    except ValueError:
        raise InputError(f"{name}: unknown precision '{recorded}' in its metadata") from None
    if precision.is_float:
        return StoredPrecision(precision, None, width)
    if precision.is_packed:
        dimension = int(table.provenance.dimension or width * 8)
        return StoredPrecision(precision, lambda v: dequantize(v, precision)[:, :dimension], dimension)
    raw_ranges = table.provenance.quantization_ranges
    if raw_ranges is None:
        raise InputError(f"{name}: {precision.value} vectors without their calibration ranges cannot be compared")
    ranges = np.asarray(raw_ranges, dtype=np.float32)
    if ranges.shape != (2, width):
        raise InputError(f"{name}: calibration ranges of shape {ranges.shape} do not fit {width}-d vectors")
    return StoredPrecision(precision, lambda v: dequantize(v, precision, ranges), width)


def release_pages(view: Any) -> None:
    """Drop the resident pages of a read-only memory-mapped array view from this process (no-op for others).

    The data stays in the page cache and the view stays valid (a later read faults the pages back in), but the
    pages stop counting toward this process's memory, so scanning a mapped corpus does not grow it to the corpus's
    size. Only read-only file mappings qualify: on private anonymous memory MADV_DONTNEED would zero the data.
    """
    if not isinstance(view, np.ndarray):
        return
    owner = view.base
    while owner is not None and not isinstance(owner, mmap.mmap):
        owner = getattr(owner, "base", None)
    if owner is None or view.flags.writeable or not hasattr(owner, "madvise") or view.nbytes == 0:
        return
    start = view.ctypes.data - np.frombuffer(owner, np.uint8).ctypes.data
    aligned = start - start % mmap.PAGESIZE
    owner.madvise(mmap.MADV_DONTNEED, aligned, min(start + view.nbytes, len(owner)) - aligned)
