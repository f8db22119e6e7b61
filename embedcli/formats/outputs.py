"""Writing embedded batches: Parquet, NPY, Arrow IPC stream/file and JSON Lines, to files or stdout.

Outputs appear whole or not at all: a file target is written to a temporary file beside it and renamed into
place on success; on any failure or Ctrl-C the temporary file is removed. Formats that must seek (Parquet, NPY,
Arrow file) reach stdout through a temporary file copied out at the end; Arrow streams and JSONL stream.
A closed stdout (`| head`) raises `PipeClosed`, whatever library was writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from embedcli.errors import PipeClosed, UsageError
from embedcli.formats import OutputFormat
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch

# numpy loads in the writers that use it: the CLI imports this module (terminal checks, atomic writes) for --help.
if TYPE_CHECKING:
    import numpy as np

METADATA_KEY = b"embedcli"
PARQUET_ROW_GROUP_ROWS = 16_384


def is_pipe_error(exc: BaseException) -> bool:
    """True for the errors a write to a closed pipe raises (np.save's has no errno at all)."""
    if isinstance(exc, BrokenPipeError | PipeClosed):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, None)


class StdoutBytes:
    """stdout as a binary file whose write errors on a closed pipe become `PipeClosed`."""

    closed = False

    def __init__(self) -> None:
        self._out = sys.stdout.buffer

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        try:
            # A pipe can take less than asked (the reader left mid-write): keep going until the rest fails.
            while view:
                written = self._out.write(view)
                if not written:
                    raise PipeClosed
                view = view[written:]
        except OSError as exc:
            if is_pipe_error(exc):
                raise PipeClosed from None
            raise
        return len(data)

    def flush(self) -> None:
        try:
            self._out.flush()
        except OSError as exc:
            if is_pipe_error(exc):
                raise PipeClosed from None
            raise


class AtomicTarget:
    """A temporary file that becomes `target` on commit, or stdout's content when `target` is None."""

    def __init__(self, target: str | None, suffix: str) -> None:
        self.target = target
        directory = None
        if target is not None:
            directory = os.path.dirname(os.path.abspath(target))
            if not os.path.isdir(directory):
                raise UsageError(f"cannot write '{target}': directory '{directory}' does not exist")
            if os.path.isdir(target):
                raise UsageError(f"cannot write '{target}': it is a directory")
        prefix = f".{os.path.basename(target)}." if target else "embedcli-out-"
        fd, self.path = tempfile.mkstemp(prefix=prefix, suffix=suffix + ".part", dir=directory)
        os.close(fd)

    def commit(self) -> None:
        if self.target is None:
            out = StdoutBytes()
            with open(self.path, "rb") as spooled:
                while chunk := spooled.read(1 << 20):
                    out.write(chunk)
            out.flush()
            os.unlink(self.path)
        else:
            os.chmod(self.path, 0o666 & ~_umask())
            os.replace(self.path, self.target)

    def abort(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> AtomicTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Commit when the block succeeded; otherwise, or if committing fails, leave nothing behind."""
        if exc_type is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:
            self.abort()
            raise


def write_atomically(data: bytes, target: str | None, suffix: str) -> None:
    """Write `data` to `target` whole or not at all; None means stdout."""
    with AtomicTarget(target, suffix) as atomic, open(atomic.path, "wb") as f:
        f.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class VectorWriter(ABC):
    """Writes embedded batches in order. `close()` commits; `abort()` leaves nothing behind."""

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        self.provenance = provenance
        self.keep_text = keep_text
        self.rows = 0

    @abstractmethod
    def write(self, batch: EmbeddedBatch) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class _ArrowWriter(VectorWriter):
    """Parquet and Arrow outputs: a table of id, text (optional) and embedding (fixed-size list)."""

    fmt: OutputFormat

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        super().__init__(target, provenance, keep_text)
        self._schema: Any = None
        self._writer: Any = None
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._target = target
        self._atomic: AtomicTarget | None = None
        self._stdout: StdoutBytes | None = None
        if self.fmt is OutputFormat.arrows and target is None:
            self._stdout = StdoutBytes()
        else:
            self._atomic = AtomicTarget(target, "." + self.fmt.value)

    def _open(self, batch: EmbeddedBatch) -> None:
        import pyarrow as pa

        self._schema = vector_schema(
            batch.vectors.dtype, batch.vectors.shape[1], self.keep_text, self.provenance, extra_fields(batch)
        )
        if self.fmt is OutputFormat.parquet:
            import pyarrow.parquet as pq

            assert self._atomic is not None
            self._writer = pq.ParquetWriter(self._atomic.path, self._schema, compression="zstd")
        elif self.fmt is OutputFormat.arrow:
            assert self._atomic is not None
            self._writer = pa.ipc.new_file(self._atomic.path, self._schema)
        else:
            sink: Any = self._atomic.path if self._atomic else pa.PythonFile(self._stdout, mode="w")
            self._writer = pa.ipc.new_stream(sink, self._schema)

    def write(self, batch: EmbeddedBatch) -> None:
        if self._writer is None:
            self._open(batch)
        record_batch = to_record_batch(batch, self._schema, self.keep_text)
        self.rows += len(batch.ids)
        if self.fmt is OutputFormat.parquet:
            # Few large row groups read faster than many small ones; memory stays bounded by the group size.
            self._pending.append(record_batch)
            self._pending_rows += len(batch.ids)
            if self._pending_rows >= PARQUET_ROW_GROUP_ROWS:
                self._flush_pending()
        else:
            self._guarded(self._writer.write_batch, record_batch)
            if self._stdout is not None:
                self._stdout.flush()

    def _flush_pending(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending, schema=self._schema))
        self._pending, self._pending_rows = [], 0

    def _guarded(self, write: Any, *args: Any) -> None:
        try:
            write(*args)
        except PipeClosed:
            raise
        except Exception as exc:
            # pyarrow re-raises a failed Python write as its own error type; look through to the cause.
            if self._stdout is not None and ("Broken pipe" in str(exc) or isinstance(exc.__cause__, PipeClosed)):
                raise PipeClosed from None
            raise

    def close(self) -> None:
        if self._writer is None:
            raise RuntimeError("no batch was written")
        if self.fmt is OutputFormat.parquet:
            self._flush_pending()
        self._guarded(self._writer.close)
        if self._atomic is not None:
            self._atomic.commit()

    def abort(self) -> None:
        if self._writer is not None and self._atomic is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._atomic is not None:
            self._atomic.abort()


class ParquetWriter(_ArrowWriter):
    fmt = OutputFormat.parquet


class ArrowFileWriter(_ArrowWriter):
    fmt = OutputFormat.arrow


class ArrowStreamWriter(_ArrowWriter):
    fmt = OutputFormat.arrows


class NpyWriter(VectorWriter):
    """A bare (rows, width) matrix; extra columns have no place in it and are not written. The header is
    rewritten with the final row count when writing ends."""

    HEADER_BYTES = 128  # fixed, so the final shape fits wherever the data already starts

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        super().__init__(target, provenance, keep_text)
        self._atomic = AtomicTarget(target, ".npy")
        self._file: BinaryIO = open(self._atomic.path, "r+b")  # noqa: SIM115 - closed in close()/abort()
        self._dtype: np.dtype | None = None
        self._width = 0

    def write(self, batch: EmbeddedBatch) -> None:
        import numpy as np

        if self._dtype is None:
            self._dtype, self._width = batch.vectors.dtype, batch.vectors.shape[1]
            self._file.write(npy_header(self._dtype, (0, self._width), self.HEADER_BYTES))
        self._file.write(np.ascontiguousarray(batch.vectors, dtype=self._dtype).tobytes())
        self.rows += len(batch.ids)

    def close(self) -> None:
        assert self._dtype is not None, "no batch was written"
        self._file.seek(0)
        self._file.write(npy_header(self._dtype, (self.rows, self._width), self.HEADER_BYTES))
        self._file.close()
        self._atomic.commit()

    def abort(self) -> None:
        self._file.close()
        self._atomic.abort()


def npy_header(dtype: np.dtype, shape: tuple[int, int], total: int) -> bytes:
    """An NPY 1.0 header padded with spaces to exactly `total` bytes (a multiple of 64)."""
    import numpy as np

    fields = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    length = total - 10
    body = fields.ljust(length - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", length) + body.encode("latin-1")


class JsonlWriter(VectorWriter):
    """One JSON object per row: id, text (optional), embedding. Streams to stdout as it goes."""

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        super().__init__(target, provenance, keep_text)
        self._atomic = AtomicTarget(target, ".jsonl") if target is not None else None
        self._file: Any = open(self._atomic.path, "wb") if self._atomic else StdoutBytes()  # noqa: SIM115

    def write(self, batch: EmbeddedBatch) -> None:
        import numpy as np

        vectors = batch.vectors.astype(np.float32) if batch.vectors.dtype == np.float16 else batch.vectors
        lines = []
        for i, row_id in enumerate(batch.ids):
            row: dict[str, Any] = {"id": row_id}
            if self.keep_text:
                row["text"] = batch.texts[i]
            row["embedding"] = vectors[i]
            for name, values in batch.columns.items():
                row[name] = values[i]
            lines.append(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE))
        self._file.write(b"".join(lines))
        self._file.flush()
        self.rows += len(batch.ids)

    def close(self) -> None:
        if self._atomic is not None:
            self._file.close()
            self._atomic.commit()

    def abort(self) -> None:
        if self._atomic is not None:
            self._file.close()
            self._atomic.abort()


WRITERS: dict[OutputFormat, type[VectorWriter]] = {
    OutputFormat.parquet: ParquetWriter,
    OutputFormat.arrow: ArrowFileWriter,
    OutputFormat.arrows: ArrowStreamWriter,
    OutputFormat.npy: NpyWriter,
    OutputFormat.jsonl: JsonlWriter,
}


@contextlib.contextmanager
def open_vector_writer(
    target: str | None, fmt: OutputFormat, provenance: Provenance, keep_text: bool = True
) -> Iterator[VectorWriter]:
    """A writer for `fmt` to `target` (None: stdout), committed when the block ends, aborted if it raises."""
    writer = WRITERS[fmt](target, provenance, keep_text)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.close()


def vector_schema(
    dtype: np.dtype, width: int, keep_text: bool, provenance: Provenance, extra: list[Any] | None = None
) -> Any:
    """The Arrow schema of embedcli tables: id, text (optional), embedding as fixed_size_list<dtype>[width],
    then the `extra` fields (pyarrow fields, e.g. from `extra_fields`)."""
    import pyarrow as pa

    fields = [pa.field("id", pa.string())]
    if keep_text:
        fields.append(pa.field("text", pa.string()))
    fields.append(pa.field("embedding", pa.list_(pa.from_numpy_dtype(dtype), width)))
    fields.extend(extra or [])
    return pa.schema(fields, metadata={METADATA_KEY: orjson.dumps(provenance.to_dict())})


def extra_fields(batch: EmbeddedBatch) -> list[Any]:
    """Arrow fields for a batch's extra columns, typed from the first batch's values (all None: string)."""
    import pyarrow as pa

    fields = []
    for name, values in batch.columns.items():
        kind = pa.array(values).type
        fields.append(pa.field(name, pa.string() if pa.types.is_null(kind) else kind))
    return fields


def to_record_batch(batch: EmbeddedBatch, schema: Any, keep_text: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    vectors = np.ascontiguousarray(batch.vectors)
    values = pa.array(vectors.reshape(-1), type=pa.from_numpy_dtype(vectors.dtype))
    columns = [pa.array(batch.ids, type=pa.string())]
    if keep_text:
        columns.append(pa.array(batch.texts, type=pa.string()))
    columns.append(pa.FixedSizeListArray.from_arrays(values, vectors.shape[1]))
    for name, extra in batch.columns.items():
        columns.append(pa.array(extra, type=schema.field(name).type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
