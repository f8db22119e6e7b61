"""Opening inputs: files or stdin, decompressed by magic bytes (gzip, bz2, xz, zstd), decoded with file-and-line errors.

Everything here streams: memory is bounded by one line (or one batch for Parquet), never by the file.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import lzma
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from embedcli.errors import InputError, UsageError
from embedcli.formats import DEFAULT_MAX_LINE_BYTES, STDIO
from embedcli.formats.outputs import temp_spool
from embedcli.formats.remote import is_remote

GZIP_MAGIC = b"\x1f\x8b"
# Compression is recognised by content, not by suffix: `corpus.txt.zst`, a renamed file and stdin read alike.
COMPRESSION_MAGIC = {
    GZIP_MAGIC: "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
# Containers of several files are not one text: named, so the hint is not "try another encoding".
ARCHIVE_MAGIC = {b"PK\x03\x04": "a zip archive", b"7z\xbc\xaf\x27\x1c": "a 7z archive", b"Rar!": "a rar archive"}
ERROR_POLICIES = ("strict", "replace", "ignore")
# How many bytes of an input are looked at for signs that it is not text in the asked-for encoding.
HEAD_BYTES = 4096
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# `--errors replace` decodes through this handler: the output is Python's own "replace", and it counts.
COUNTING_REPLACE = "embedcli-counting-replace"


class _ReplacementCounter:
    """How many invalid byte sequences the counting handler has replaced in this process."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, exc: UnicodeError) -> tuple[str, int]:
        if not isinstance(exc, UnicodeDecodeError):
            raise exc
        self.count += 1
        return "\ufffd", exc.end


REPLACEMENTS = _ReplacementCounter()
codecs.register_error(COUNTING_REPLACE, REPLACEMENTS)
# Stateless codecs in which a newline byte is never part of another character: decoding a block of whole
# lines equals decoding each line on its own, whatever the error policy.
BLOCKWISE_CODECS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
# `--encoding auto`: each file's encoding is told from its first bytes (see detect_encoding).
AUTO = "auto"
AUTO_SAMPLE_BYTES = 1 << 20
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Decoding:
    """How bytes become text. A leading UTF-8 byte-order mark is always dropped. `encoding` "auto" is told per
    input from its first bytes (`for_source`) before anything is decoded."""

    encoding: str = "utf-8"
    errors: str = "strict"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def __post_init__(self) -> None:
        if self.max_line_bytes < 1:
            raise UsageError(f"--max-line-bytes must be at least 1, not {self.max_line_bytes}")
        try:
            if self.encoding != AUTO:
                codecs.lookup(self.encoding)
        except LookupError:
            raise UsageError(f"unknown encoding '{self.encoding}'", hint="name a Python codec, or auto") from None
        if self.errors not in ERROR_POLICIES:
            raise UsageError(f"--errors must be one of {', '.join(ERROR_POLICIES)}, not '{self.errors}'")

    def for_source(self, source: ByteSource) -> Decoding:
        """This decoding for `source`: with encoding "auto", the encoding told from its first bytes (recorded as
        `source.encoding`); else itself."""
        if self.encoding != AUTO:
            return self
        if source.encoding is None:
            source.encoding = detect_encoding(source.sample(AUTO_SAMPLE_BYTES), source.name)
        return replace(self, encoding=source.encoding)

    @property
    def codec_errors(self) -> str:
        """The error handler to decode with: "replace" goes through a handler that counts (see REPLACEMENTS)."""
        return COUNTING_REPLACE if self.errors == "replace" else self.errors

    @property
    def line_oriented(self) -> bool:
        """True when a newline is the byte 0x0A, so lines can be split before decoding (not UTF-16/32)."""
        name = codecs.lookup(self.encoding).name
        return not name.startswith(("utf-16", "utf-32"))

    @property
    def blockwise(self) -> bool:
        """True when blocks of whole lines can be decoded at once with the same result (see decoded_blocks)."""
        if self.encoding == AUTO:
            return False  # not known before an input is opened
        return codecs.lookup(self.encoding).name in BLOCKWISE_CODECS


def detect_encoding(sample: bytes, name: str) -> str:
    """The encoding of text that starts with `sample`: the one its byte-order mark names; UTF-8 when the sample is
    valid UTF-8 (ASCII included; a character cut at the sample's end allowed); else charset-normalizer's best guess.
    Returns a Python codec name. Raises InputError naming the input when no encoding fits.
    """
    for bom, encoding in BOMS:
        if sample.startswith(bom):
            return encoding
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3:
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InputError(f"{name}: cannot tell its text encoding", hint="pass it with --encoding (e.g. latin-1)")
    return codecs.lookup(best.encoding).name


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIO else path


def check_readable(path: str) -> None:
    """Raise a usage error for an input path that does not exist or is not a file. A URL (s3://...) is checked by
    the opener that copies it (`remote.local_copy`): asking the object store twice would cost a round trip."""
    if path == STDIO or is_remote(path):
        return
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if p.is_dir():
        raise UsageError(f"'{path}' is a directory, not a file")
    if not os.access(p, os.R_OK):
        # The file exists: what stops it is the machine, not the command line (exit 1, as for unusable content).
        raise InputError(f"cannot read '{path}': permission denied")


def compression_of(head: bytes) -> str | None:
    """The compression ("gzip", "bz2", "xz", "zstd") whose magic bytes start `head`, or None."""
    for magic, name in COMPRESSION_MAGIC.items():
        if head.startswith(magic):
            return name
    return None


class _ZstdReader(io.RawIOBase):
    """A zstd stream (one or more frames) as a raw binary stream; a stream cut inside a frame raises EOFError.

    zstandard's own stream_reader returns a short read silently for a truncated frame, hence this wrapper.
    """

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._zstd = zstandard.ZstdDecompressor()
        self._error = zstandard.ZstdError
        self._obj = self._zstd.decompressobj()
        self._fresh = True  # no byte of the current frame read yet
        self._out = b""
        self._pos = 0  # bytes of _out already handed out

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._out):
            data = self._raw.read(1 << 17)
            if not data:
                if not self._fresh and not self._obj.eof:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                return 0
            pieces = []
            while data:
                if self._obj.eof:
                    self._obj = self._zstd.decompressobj()
                self._fresh = False
                try:
                    pieces.append(self._obj.decompress(data))
                except self._error as exc:
                    raise EOFError(f"not valid zstd data ({exc})") from None
                data = self._obj.unused_data if self._obj.eof else b""
            if self._obj.eof:
                self._fresh = True
            self._out, self._pos = b"".join(pieces), 0
        size = min(len(buffer), len(self._out) - self._pos)
        buffer[:size] = memoryview(self._out)[self._pos : self._pos + size]
        self._pos += size
        return size


def _decompressed(stream: BinaryIO, compression: str) -> BinaryIO:
    if compression == "gzip":
        return io.BufferedReader(gzip.GzipFile(fileobj=stream))
    if compression == "bz2":
        return io.BufferedReader(bz2.BZ2File(stream))
    if compression == "xz":
        return io.BufferedReader(lzma.LZMAFile(stream))
    return io.BufferedReader(_ZstdReader(stream))


class ByteSource:
    """A binary input opened for reading, decompressed when its first bytes say gzip, bz2, xz or zstd, that knows
    how far it has read.

    `position()` counts bytes of the underlying file (compressed bytes for compressed data), for progress bars.
    `compression` names the compression found, or is None.
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
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        self._buffered = buffered
        self.stream: BinaryIO = buffered
        self.compression = compression_of(buffered.peek(8)[:8])
        if self.compression is not None:
            self.stream = _decompressed(buffered, self.compression)
        self.encoding: str | None = None  # told by Decoding.for_source under --encoding auto

    def sample(self, size: int) -> bytes:
        """Up to `size` bytes of the (decompressed) content from its start, read without consuming the stream: the
        file itself for a plain file, else what the stream's buffer holds."""
        if self.path != STDIO and self.compression is None:
            return os.pread(self._raw.fileno(), size, 0)
        return _peek(self.stream, size)

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


def decoded_lines(source: ByteSource, decoding: Decoding, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its line ending), decoding each line on its own.

    `keep_ends` keeps the line ending (for parsers such as csv that need it inside quoted fields).
    A decoding failure, a NUL byte or a line longer than `decoding.max_line_bytes` names the file and line
    (InputError); so does text that looks like UTF-16 without a byte-order mark. Truncated gzip data is an
    input error, not a traceback.
    """
    decoding = decoding.for_source(source)
    check_text_head(source, decoding)
    limit = decoding.max_line_bytes
    try:
        if decoding.line_oriented:
            number = 0
            while raw_line := source.stream.readline(limit + 1):
                number += 1
                if len(raw_line) > limit and not (len(raw_line) == limit + 1 and raw_line.endswith(b"\n")):
                    raise _long_line_error(source.name, number, limit)
                if b"\x00" in raw_line:
                    raise _nul_error(source.name, number)
                try:
                    line = raw_line.decode(decoding.encoding, decoding.codec_errors)
                except UnicodeDecodeError as exc:
                    raise _decode_error(source.name, number, decoding, exc) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield number, line if keep_ends else line.rstrip("\r\n")
        else:
            newline = "" if keep_ends else None
            text = io.TextIOWrapper(
                source.stream, encoding=decoding.encoding, errors=decoding.codec_errors, newline=newline
            )
            try:
                number = 0
                # Characters, not bytes, here: at most 4 bytes each in UTF-16/32, still a bound.
                while line := text.readline(limit + 1):
                    number += 1
                    if len(line) > limit and not line.endswith("\n"):
                        raise _long_line_error(source.name, number, limit)
                    if number == 1 and line.startswith("\ufeff"):
                        line = line[1:]
                    yield number, line if keep_ends else line.rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise _decode_error(source.name, None, decoding, exc) from None
            finally:
                text.detach()
    except (EOFError, OSError, lzma.LZMAError) as exc:
        raise _read_error(source, exc) from None


def check_text_head(source: ByteSource, decoding: Decoding) -> None:
    """Refuse an input whose first block shows it is not text in `decoding` (InputError naming the file).

    NUL bytes never occur in text in a byte-oriented encoding: they mean a binary file, or UTF-16/32 read as
    UTF-8. A UTF-16 byte-order mark is named with the --encoding that reads it.
    """
    if not decoding.line_oriented:
        return
    head = _peek(source.stream, HEAD_BYTES)
    for magic, what in ARCHIVE_MAGIC.items():
        if head.startswith(magic):
            raise InputError(
                f"{source.name}: is {what}, not text", hint="extract it first, then pass the files or their folder"
            )
    if head.startswith(UTF16_BOMS):
        raise InputError(
            f"{source.name}: is UTF-16 (it starts with a UTF-16 byte-order mark), not {decoding.encoding}",
            hint="pass --encoding utf-16",
        )
    if b"\x00" not in head:
        return
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) > len(head) // 4 and min(even, odd) == 0:
        order = "be" if even > odd else "le"
        raise InputError(
            f"{source.name}: looks like UTF-16 without a byte-order mark (NUL bytes between the characters)",
            hint=f"pass --encoding utf-16-{order}",
        )
    raise InputError(
        f"{source.name}: holds NUL bytes at byte {head.index(0) + 1}: a binary file, not {decoding.encoding} text",
        hint="pass the right --encoding (e.g. utf-16-le), or a text file",
    )


def _peek(stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.peek(size)[:size] if hasattr(stream, "peek") else b""
    except (EOFError, OSError):
        return b""  # reported, with its cause, by the read that follows


def _nul_error(name: str, line: int) -> InputError:
    return InputError(f"{name}:{line}: holds a NUL byte: a binary file, or text in another encoding")


def _long_line_error(name: str, line: int, limit: int) -> InputError:
    return InputError(
        f"{name}:{line}: line longer than {limit:,} bytes",
        hint="is this really text, one item per line? raise the bound with --max-line-bytes",
    )


def decoded_blocks(source: ByteSource, decoding: Decoding, size: int = 1 << 20) -> Iterator[str]:
    """Yield the text of `source` in blocks of about `size` bytes of whole lines, for readers that split lines
    themselves. Every block ends with a newline but the file's last one may not; line endings are kept.

    Joined, the blocks hold the lines decoded_lines yields, with the same byte-order mark handling and the
    same errors, word for word (an invalid byte is reported with its line). Needs `decoding.blockwise`.
    """
    decoding = decoding.for_source(source)
    if not decoding.blockwise:
        raise ValueError(f"{decoding.encoding} cannot be decoded block by block")
    check_text_head(source, decoding)
    first_line = 1  # the line number of the block's first line
    pending: list[bytes] = []  # read bytes after the last newline
    try:
        while True:
            data = source.stream.read(size)
            cut = data.rfind(b"\n") + 1 if data else len(data)
            if data and not cut:
                pending.append(data)
                if sum(map(len, pending)) > decoding.max_line_bytes:
                    raise _long_line_error(source.name, first_line, decoding.max_line_bytes)
                continue
            block = b"".join([*pending, data[:cut]])
            pending = [data[cut:]] if cut < len(data) else []
            if block:
                if b"\x00" in block:
                    raise _nul_error(source.name, first_line + block[: block.index(0)].count(b"\n"))
                try:
                    text = block.decode(decoding.encoding, decoding.codec_errors)
                except UnicodeDecodeError:
                    raise _block_decode_error(source.name, first_line, block, decoding) from None
                if first_line == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                first_line += block.count(b"\n")
                yield text
            if not data:
                return
    except (EOFError, OSError, lzma.LZMAError) as exc:
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
    return InputError(f"{source.name}: corrupt or truncated {source.compression or 'gzip'} data ({exc})")


def _decode_error(name: str, line: int | None, decoding: Decoding, exc: UnicodeDecodeError) -> InputError:
    where = f"{name}:{line}" if line is not None else name
    bad = exc.object[exc.start : exc.start + 1].hex()
    return InputError(
        f"{where}: not valid {decoding.encoding} (byte 0x{bad} at column {exc.start + 1})",
        hint="pass the right --encoding (e.g. latin-1, or auto), or --errors replace",
    )


@contextlib.contextmanager
def spooled_stdin(head: bytes = b"") -> Iterator[str]:
    """The one stdin spool: `head` (bytes already taken from stdin) and the rest of stdin copied to a file that can
    be seeked and read again, `$TMPDIR/embedcli-<pid>-<random>.part`. It is removed on the way out (an error or
    Ctrl-C included); one a killed run left behind (its pid is no longer alive) is removed by the next run that
    spools or writes in that folder (`outputs.sweep_stale`)."""
    with temp_spool() as spooled:
        with open(spooled, "wb") as out:
            out.write(head)
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield spooled


@contextlib.contextmanager
def seekable_path(path: str) -> Iterator[str]:
    """A real file path for formats that must seek (Parquet, NPY): a file itself, or stdin spooled (spooled_stdin)."""
    if path != STDIO:
        check_readable(path)
        yield path
        return
    with spooled_stdin() as spooled:
        yield spooled
