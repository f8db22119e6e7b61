"""Opening inputs: files or stdin, gzip by suffix or magic bytes, decoding with file-and-line errors.

Everything here streams: memory is bounded by one line (or one batch for Parquet), never by the file.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO

GZIP_MAGIC = b"\x1f\x8b"
ERROR_POLICIES = ("strict", "replace", "ignore")
# Stateless codecs in which a newline byte is never part of another character: decoding a block of whole
# lines equals decoding each line on its own, whatever the error policy.
BLOCKWISE_CODECS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})


@dataclass(frozen=True)
class Decoding:
    """How bytes become text. A leading UTF-8 byte-order mark is always dropped."""

    encoding: str = "utf-8"
    errors: str = "strict"

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise UsageError(f"unknown encoding '{self.encoding}'") from None
        if self.errors not in ERROR_POLICIES:
            raise UsageError(f"--errors must be one of {', '.join(ERROR_POLICIES)}, not '{self.errors}'")

    @property
    def line_oriented(self) -> bool:
        """True when a newline is the byte 0x0A, so lines can be split before decoding (not UTF-16/32)."""
        name = codecs.lookup(self.encoding).name
        return not name.startswith(("utf-16", "utf-32"))

    @property
    def blockwise(self) -> bool:
        """True when blocks of whole lines can be decoded at once with the same result (see decoded_blocks)."""
        return codecs.lookup(self.encoding).name in BLOCKWISE_CODECS


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIO else path


def check_readable(path: str) -> None:
    """Raise a usage error for an input path that does not exist or is not a file."""
    if path == STDIO:
        return
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if p.is_dir():
        raise UsageError(f"'{path}' is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"cannot read '{path}': permission denied")


class ByteSource:
    """A binary input opened for reading, transparently gunzipped, that knows how far it has read.

    `position()` counts bytes of the underlying file (compressed bytes for .gz), for progress bars.
    """

    def __init__(self, path: str) -> None:
        check_readable(path)
        self.path = path
        self.name = display_name(path)
        raw: BinaryIO
        if path == STDIO:
            raw = sys.stdin.buffer
            self.size: int | None = None
        else:
            raw = open(path, "rb")  # noqa: SIM115 - closed in close()
            self.size = os.fstat(raw.fileno()).st_size
        self._raw = raw
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type,type-var]
        self._buffered = buffered
        self.stream: BinaryIO = buffered
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            self.stream = io.BufferedReader(gzip.GzipFile(fileobj=buffered))  # type: ignore[arg-type]

    def position(self) -> int:
        try:
            return self._raw.tell() if self.path != STDIO else 0
        except OSError:
            return 0

    def close(self) -> None:
        if self.path != STDIO:
            self._raw.close()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decoded_lines(source: ByteSource, decoding: Decoding) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its line ending), decoding each line on its own.

    A decoding failure names the file and line. Truncated gzip data is an input error, not a traceback.
    """
    try:
        if decoding.line_oriented:
            for number, raw_line in enumerate(source.stream, start=1):
                try:
                    line = raw_line.decode(decoding.encoding, decoding.errors)
                except UnicodeDecodeError as exc:
                    raise _decode_error(source.name, number, decoding, exc) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield number, line.rstrip("\r\n")
        else:
            text = io.TextIOWrapper(source.stream, encoding=decoding.encoding, errors=decoding.errors)
            try:
                for number, line in enumerate(text, start=1):
                    if number == 1 and line.startswith("\ufeff"):
                        line = line[1:]
                    yield number, line.rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise _decode_error(source.name, None, decoding, exc) from None
            finally:
                text.detach()
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise _read_error(source, exc) from None


def decoded_blocks(source: ByteSource, decoding: Decoding, size: int = 1 << 20) -> Iterator[str]:
    """Yield the text of `source` in blocks of about `size` bytes of whole lines, for readers that split lines
    themselves. Every block ends with a newline but the file's last one may not; line endings are kept.

    Joined, the blocks hold the lines decoded_lines yields, with the same byte-order mark handling and the
    same errors, word for word (an invalid byte is reported with its line). Needs `decoding.blockwise`.
    """
    if not decoding.blockwise:
        raise ValueError(f"{decoding.encoding} cannot be decoded block by block")
    first_line = 1  # the line number of the block's first line
    pending: list[bytes] = []  # read bytes after the last newline
    try:
        while True:
            data = source.stream.read(size)
            cut = data.rfind(b"\n") + 1 if data else len(data)
            if data and not cut:
                pending.append(data)
                continue
            block = b"".join([*pending, data[:cut]])
            pending = [data[cut:]] if cut < len(data) else []
            if block:
                try:
                    text = block.decode(decoding.encoding, decoding.errors)
                except UnicodeDecodeError:
                    raise _block_decode_error(source.name, first_line, block, decoding) from None
                if first_line == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                first_line += block.count(b"\n")
                yield text
            if not data:
                return
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise _read_error(source, exc) from None


def _block_decode_error(name: str, first_line: int, block: bytes, decoding: Decoding) -> InputError:
    """The error decoded_lines reports for the first line of `block` that does not decode."""
    for number, raw_line in enumerate(io.BytesIO(block), start=first_line):
        try:
            raw_line.decode(decoding.encoding, decoding.errors)
        except UnicodeDecodeError as exc:
            return _decode_error(name, number, decoding, exc)
    raise AssertionError("the block decodes line by line")


def _read_error(source: ByteSource, exc: Exception) -> InputError:
    if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None:
        return InputError(f"{source.name}: read failed: {exc.strerror}")
    return InputError(f"{source.name}: corrupt or truncated gzip data ({exc})")


def text_stream(source: ByteSource, decoding: Decoding) -> io.TextIOWrapper:
    """A text view of `source` for parsers that need one (CSV), dropping a UTF-8 byte-order mark."""
    encoding = decoding.encoding
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    return io.TextIOWrapper(source.stream, encoding=encoding, errors=decoding.errors, newline="")


def _decode_error(name: str, line: int | None, decoding: Decoding, exc: UnicodeDecodeError) -> InputError:
    where = f"{name}:{line}" if line is not None else name
    bad = exc.object[exc.start : exc.start + 1].hex()
    return InputError(
        f"{where}: not valid {decoding.encoding} (byte 0x{bad} at column {exc.start + 1})",
        hint="pass the right --encoding (e.g. latin-1), or --errors replace",
    )


@contextlib.contextmanager
def seekable_path(path: str, suffix: str) -> Iterator[str]:
    """A real file path for formats that must seek (Parquet, NPY): stdin is spooled to a temporary file."""
    if path != STDIO:
        check_readable(path)
        yield path
        return
    fd, spooled = tempfile.mkstemp(prefix="embedcli-stdin-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield spooled
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spooled)
