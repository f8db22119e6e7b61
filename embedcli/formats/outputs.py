"""Writing embedded batches: Parquet, NPY, Arrow IPC stream/file and JSON Lines, to files or stdout.

Outputs appear whole or not at all: a regular file target is written to a hidden temporary file beside it
(beside the file a symlink points to) and renamed into place on success; on any failure or Ctrl-C the temporary
file is removed. A target that exists and is not a regular file (a device such as /dev/null, a FIFO) is never
replaced: it is opened and written straight into. Formats that must seek (NPY always; Parquet and Arrow file on
stdout) go through a spool file copied out at the end, removed whatever happens. Arrow streams and JSONL stream.
A closed stdout (`| head`) raises `PipeClosed`, whatever library was writing. Any other OS error while writing
becomes one `OutputError` naming the target and the OS reason.

Temporary files carry the writer's pid (`.NAME.embedcli-<pid>-<random>.part`, `embedcli-<pid>-<random>.part`
in $TMPDIR for spools), so one left by a killed run is recognised and removed by the next run that writes in
that folder, once no process with that pid is alive. Inside `commit_together()`, every target of the block is
committed only when the whole block succeeded: a command's outputs appear together or not at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import io
import os
import re
import shutil
import stat
import struct
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from embedcli.errors import EmbedcliError, InputError, PipeClosed, UsageError
from embedcli.formats import OutputFormat
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch

# numpy loads in the writers that use it: the CLI imports this module (terminal checks, atomic writes) for --help.
if TYPE_CHECKING:
    import numpy as np

METADATA_KEY = b"embedcli"
PARQUET_ROW_GROUP_ROWS = 16_384
# `.NAME.embedcli-<pid>-<random>.part` beside a target, `embedcli-<pid>-<random>.part` as a spool in $TMPDIR.
TEMP_NAME = re.compile(r"(?:^|\.)embedcli-(\d+)-[A-Za-z0-9_]+\.part$")
# The errors a write can meet that only the output explains (the input side names its files itself).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


class OutputError(EmbedcliError):
    """An output could not be written (full disk, read-only, no permission): names the target and the reason."""


def is_pipe_error(exc: BaseException) -> bool:
    """True for the errors a write to a closed pipe raises (np.save's has no errno at all)."""
    if isinstance(exc, BrokenPipeError | PipeClosed):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, None)


def os_reason(exc: OSError) -> str:
    """The OS's reason for `exc` in a few words ('No space left on device'), without pyarrow's decorations."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def cannot_write(target: str | None, exc: OSError) -> OutputError:
    name = "stdout" if target is None else f"'{target}'"
    return OutputError(f"cannot write {name}: {os_reason(exc)}")


@contextlib.contextmanager
def naming_write_errors(target: str | None, temp: str | None = None) -> Iterator[None]:
    """Turn an OS error met while writing `target` (through its temporary file `temp`) into an `OutputError`."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        if is_pipe_error(exc):
            raise
        ours = exc.filename is None or exc.filename in (target, temp)
        if ours and (exc.filename is not None or exc.errno in WRITE_ERRNOS):
            raise cannot_write(target, exc) from None
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_swept: set[str] = set()


def sweep_stale(directory: str, pattern: re.Pattern[str] = TEMP_NAME) -> list[str]:
    """Remove the temporary files in `directory` whose name carries the pid of a process no longer alive
    (left by a run that was killed). Files of live processes are never touched. Each folder once per process."""
    key = os.path.abspath(directory)
    if key in _swept:
        return []
    _swept.add(key)
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            match = pattern.search(entry.name)
            if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
    return removed


def temp_prefix(name: str = "", owner: int | None = None) -> str:
    """The start of a recognisable temporary name: `.NAME.embedcli-<pid>-` (or `embedcli-<pid>-` without NAME).
    `owner` is the pid of the process that will remove the file (default this one): a forked helper that hands
    its file to its parent names the parent, so the file is never swept while the parent lives."""
    pid = os.getpid() if owner is None else owner
    return f".{name}.embedcli-{pid}-" if name else f"embedcli-{pid}-"


def new_temp_file(directory: str | None = None, name: str = "", owner: int | None = None) -> tuple[int, str]:
    """A new temporary file in `directory` ($TMPDIR by default) named for the sweep (`temp_prefix(name, owner)` +
    random + `.part`), after the stale files of killed runs there are swept: (its open descriptor, its path)."""
    directory = directory or tempfile.gettempdir()
    sweep_stale(directory)
    return tempfile.mkstemp(prefix=temp_prefix(name, owner), suffix=".part", dir=directory)


@contextlib.contextmanager
def temp_spool() -> Iterator[str]:
    """The path of a new, empty spool in $TMPDIR (`new_temp_file`), removed on the way out (an error or Ctrl-C
    included); one a killed run left behind is swept by the next run."""
    fd, path = new_temp_file()
    os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class SequentialSink(io.RawIOBase):
    """A write-only, non-seekable binary stream over an open file (stdout, a device, a FIFO) that counts what
    it wrote (`tell()`, which pyarrow asks for) and turns a closed-pipe error into `PipeClosed`."""

    def __init__(self, out: Any, owned: bool = False) -> None:
        super().__init__()
        self._out = out
        self._owned = owned
        self._position = 0

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
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
        self._position += size
        return size

    def flush(self) -> None:
        if self.closed:
            return
        try:
            self._out.flush()
        except OSError as exc:
            if is_pipe_error(exc):
                raise PipeClosed from None
            raise

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flushes once
        finally:
            if self._owned:
                self._out.close()


class StdoutBytes(SequentialSink):
    """stdout as a binary stream whose write errors on a closed pipe become `PipeClosed`. Closing it leaves
    stdout open."""

    def __init__(self) -> None:
        super().__init__(sys.stdout.buffer)


class _Group:
    def __init__(self) -> None:
        self.pending: list[AtomicTarget] = []
        self.members: list[AtomicTarget] = []


_group: contextvars.ContextVar[_Group | None] = contextvars.ContextVar("embedcli_commit_group", default=None)


@contextlib.contextmanager
def commit_together() -> Iterator[None]:
    """Defer the commit of every `AtomicTarget` made inside the block to its end: when the block succeeds, all
    are committed (in the order they were made); when it raises, none is, and every temporary file is removed.

    Streams (stdout, devices, FIFOs) are written as they go and cannot wait; regular files, and spools bound for
    stdout, do.
    """
    group = _Group()
    token = _group.set(group)
    try:
        yield
    except BaseException:
        _group.reset(token)
        for member in group.members:
            member.abort()
        raise
    _group.reset(token)
    try:
        for member in group.members:
            if member in group.pending:
                member.commit()
    except BaseException:
        for member in group.members:
            member.abort()
        raise


class AtomicTarget:
    """Where one output is written before it becomes `target` (None: stdout).

    `path` is the file to write: a hidden temporary file beside the target (beside the file a symlink points
    to), renamed onto it by `commit()`; for stdout, or for a target that exists and is not a regular file (a
    device, a FIFO), a spool in $TMPDIR copied out by `commit()`. With `stream=True`, a target that is not a
    regular file is written straight through `stream()` instead (no temporary file at all; `path` is None).
    Raises UsageError for a missing folder or a directory target, OutputError when the folder is not writable.
    """

    def __init__(self, target: str | None, suffix: str = "", stream: bool = False) -> None:
        self.target = target
        self.direct = False
        self.temp: str | None = None  # the temporary file or spool; None for a direct target
        self._final: str | None = None  # the regular file a commit renames onto
        self._handle: SequentialSink | None = None
        self._done = False
        if target is not None:
            try:
                mode: int | None = os.stat(target).st_mode  # through symlinks, /dev/stdout's included
            except FileNotFoundError:
                mode = None
            if mode is not None and stat.S_ISDIR(mode):
                raise UsageError(f"cannot write '{target}': it is a directory")
            if mode is not None and not stat.S_ISREG(mode):
                self.direct = stream  # a device or FIFO: written straight, or through a spool copied into it
            else:
                final = os.path.realpath(target)  # a symlink's file is replaced, never the link itself
                directory = os.path.dirname(final)
                if not os.path.isdir(directory):
                    raise UsageError(f"cannot write '{target}': directory '{directory}' does not exist")
                self._final = final
                self.temp = self._make_temp(directory, os.path.basename(final))
        if self.temp is None and not self.direct:
            self.temp = self._make_temp(tempfile.gettempdir(), "")
        group = _group.get()
        self._group = group
        if group is not None:
            group.members.append(self)

    @property
    def path(self) -> str:
        """The temporary file to write (not for a direct target: write through `stream()`)."""
        assert self.temp is not None, "a direct target has no temporary file: write through stream()"
        return self.temp

    def _make_temp(self, directory: str, name: str) -> str:
        try:
            fd, path = new_temp_file(directory, name)
        except OSError as exc:
            raise cannot_write(self.target or directory, exc) from None
        os.close(fd)
        return path

    def stream(self) -> SequentialSink:
        """The open target, for a direct write (only when `direct`): opened once, closed by commit/abort."""
        assert self.direct and self.target is not None
        if self._handle is None:
            try:
                self._handle = _open_sink(self.target)
            except OSError as exc:
                raise cannot_write(self.target, exc) from None
        return self._handle

    def commit(self) -> None:
        """Make the written output the target's content (deferred to the end of a `commit_together` block)."""
        if self._done:
            return
        if self._group is not None and _group.get() is self._group:
            self._group.pending.append(self)
            return
        self._done = True
        with naming_write_errors(self.target, self.temp):
            if self.direct:
                if self._handle is not None:
                    self._handle.close()
            elif self._final is None:
                try:
                    self._copy_out()
                finally:
                    # The spool is as large as the output: it goes even when the reader left (`| head`).
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
            else:
                os.chmod(self.path, 0o666 & ~_umask())
                os.replace(self.path, self._final)

    def _copy_out(self) -> None:
        out = StdoutBytes() if self.target is None else _open_sink(self.target)
        try:
            with open(self.path, "rb") as spooled:
                while chunk := spooled.read(1 << 20):
                    out.write(chunk)
            out.flush()
        finally:
            if self.target is not None:
                out.close()

    def abort(self) -> None:
        """Leave nothing behind: the temporary file or spool is removed; a stream target is closed."""
        self._done = True
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.close()
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)

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
    """Write `data` to `target` whole or not at all; None means stdout. A device or FIFO is written straight."""
    with AtomicTarget(target, suffix, stream=True) as atomic, naming_write_errors(target, atomic.temp):
        if atomic.direct:
            atomic.stream().write(data)
        else:
            with open(atomic.path, "wb") as f:
                f.write(data)


def _open_sink(path: str) -> SequentialSink:
    """An existing device or FIFO opened for writing, unbuffered (a FIFO's reader sees each write)."""
    return SequentialSink(open(path, "wb", buffering=0), owned=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class VectorWriter(ABC):
    """Writes embedded batches in order. `close()` commits; `abort()` leaves nothing behind. OS errors while
    writing become `OutputError` naming the target."""

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        self.target = target
        self.provenance = provenance
        self.keep_text = keep_text
        self.rows = 0
        self._temp: str | None = None

    def write(self, batch: EmbeddedBatch) -> None:
        with naming_write_errors(self.target, self._temp):
            self._write(batch)

    def close(self) -> None:
        with naming_write_errors(self.target, self._temp):
            self._close()

    @abstractmethod
    def _write(self, batch: EmbeddedBatch) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

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
        self._atomic: AtomicTarget | None = None
        self._stdout: StdoutBytes | None = None
        if self.fmt is OutputFormat.arrows and target is None:
            self._stdout = StdoutBytes()
        else:
            self._atomic = AtomicTarget(target, "." + self.fmt.value, stream=True)
            self._temp = self._atomic.temp

    def _sink(self) -> Any:
        import pyarrow as pa

        if self._stdout is not None:
            return pa.PythonFile(self._stdout, mode="w")
        assert self._atomic is not None
        if self._atomic.direct:
            # A device or FIFO: pyarrow asks for the position, which only a counting stream can give.
            return pa.PythonFile(self._atomic.stream(), mode="w")
        return self._atomic.path

    def _open(self, batch: EmbeddedBatch) -> None:
        import pyarrow as pa

        self._schema = vector_schema(
            batch.vectors.dtype, batch.vectors.shape[1], self.keep_text, self.provenance, extra_fields(batch)
        )
        if self.fmt is OutputFormat.parquet:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._sink(), self._schema, compression="zstd")
        elif self.fmt is OutputFormat.arrow:
            self._writer = pa.ipc.new_file(self._sink(), self._schema)
        else:
            self._writer = pa.ipc.new_stream(self._sink(), self._schema)

    def _write(self, batch: EmbeddedBatch) -> None:
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
            self._guarded(self._writer.write_table, pa.Table.from_batches(self._pending, schema=self._schema))
        self._pending, self._pending_rows = [], 0

    def _guarded(self, write: Any, *args: Any) -> None:
        try:
            write(*args)
        except PipeClosed:
            raise
        except Exception as exc:
            # pyarrow re-raises a failed Python write as its own error type; look through to the cause.
            streaming = self._stdout is not None or (self._atomic is not None and self._atomic.direct)
            if streaming and ("Broken pipe" in str(exc) or isinstance(exc.__cause__, PipeClosed)):
                raise PipeClosed from None
            if isinstance(exc.__cause__, OSError) and not isinstance(exc, OSError):
                raise exc.__cause__ from None
            raise

    def _close(self) -> None:
        if self._writer is None:
            raise RuntimeError("no batch was written")
        if self.fmt is OutputFormat.parquet:
            self._flush_pending()
        writer, self._writer = self._writer, None  # closed once: a failed close is not retried by abort()
        self._guarded(writer.close)
        if self._atomic is not None:
            self._atomic.commit()

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
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
    rewritten with the final row count when writing ends, so the matrix is always written to a seekable file
    first (a spool, for stdout, devices and FIFOs)."""

    HEADER_BYTES = 128  # fixed, so the final shape fits wherever the data already starts

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        super().__init__(target, provenance, keep_text)
        self._atomic = AtomicTarget(target, ".npy")
        self._temp = self._atomic.path
        self._file: BinaryIO = open(self._atomic.path, "r+b")  # noqa: SIM115 - closed in close()/abort()
        self._dtype: np.dtype | None = None
        self._width = 0

    def _write(self, batch: EmbeddedBatch) -> None:
        import numpy as np

        if self._dtype is None:
            self._dtype, self._width = batch.vectors.dtype, batch.vectors.shape[1]
            self._file.write(npy_header(self._dtype, (0, self._width), self.HEADER_BYTES))
        self._file.write(np.ascontiguousarray(batch.vectors, dtype=self._dtype).tobytes())
        self.rows += len(batch.ids)

    def _close(self) -> None:
        assert self._dtype is not None, "no batch was written"
        self._file.seek(0)
        self._file.write(npy_header(self._dtype, (self.rows, self._width), self.HEADER_BYTES))
        self._file.close()
        self._atomic.commit()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
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
    """One JSON object per row: id, text (optional), embedding. Streams to stdout, devices and FIFOs as it goes."""

    def __init__(self, target: str | None, provenance: Provenance, keep_text: bool) -> None:
        super().__init__(target, provenance, keep_text)
        self._atomic = AtomicTarget(target, ".jsonl", stream=True) if target is not None else None
        self._temp = self._atomic.temp if self._atomic else None
        self._file: Any
        if self._atomic is None:
            self._file = StdoutBytes()
        elif self._atomic.direct:
            self._file = self._atomic.stream()
        else:
            self._file = open(self._atomic.path, "wb")  # noqa: SIM115 - closed in close()/abort()

    def _write(self, batch: EmbeddedBatch) -> None:
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
            # Kept columns may hold what JSON has no type for (a Parquet decimal): written as its text.
            lines.append(orjson.dumps(row, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE))
        self._file.write(b"".join(lines))
        self._file.flush()
        self.rows += len(batch.ids)

    def _close(self) -> None:
        if self._atomic is not None:
            if not self._atomic.direct:
                self._file.close()
            self._atomic.commit()

    def abort(self) -> None:
        if self._atomic is not None:
            if not self._atomic.direct:
                with contextlib.suppress(OSError):
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
    """A writer for `fmt` to `target` (None: stdout), committed when the block ends, aborted if it raises or
    if closing fails (a full disk often shows only when the last bytes are written)."""
    if fmt not in WRITERS:
        raise UsageError(f"{fmt.value} is a store, which only `embed` writes", hint="write to a file (-o NAME.parquet)")
    writer = WRITERS[fmt](target, provenance, keep_text)
    try:
        yield writer
        writer.close()
    except BaseException:
        writer.abort()
        raise


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
        kind = schema.field(name).type
        try:
            columns.append(pa.array(extra, type=kind))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            # The type came from the first rows; JSON values may change type further on.
            raise InputError(
                f"column '{name}': a value does not fit the type {kind} its first rows gave it ({exc})",
                hint="a kept column needs one type in every row (e.g. all numbers, or all strings)",
            ) from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)
