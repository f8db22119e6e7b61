"""Readers that turn text inputs (txt, JSONL, JSON arrays, CSV/TSV, Parquet, compressed or not, files or stdin) into
records.

Ids default to the 1-based line or row number within each input, prefixed with the input's name when there
are several inputs, so outputs can always be joined back. Blank texts are skipped and counted, never embedded.

What is refused, naming file and line, rather than guessed: a JSONL text that is a list, an object or a boolean
(numbers are read as their JSON spelling, `42` → "42"; null is a blank text); a CSV/TSV row with fewer fields than
the header (or, with no header, than the columns asked for) or, with a header, more; NUL bytes; lines longer than
`Decoding.max_line_bytes`. CSV/TSV columns are named by header or by 1-based number (`--no-header`: numbers only).

JSON: a JSONL/.json input whose first non-blank character is `[` is one JSON array of objects (read whole: it is one
value); fields may be dotted paths into nested objects (`meta.body`), a key holding the dot itself winning. stdin
with no format named is sniffed once, without a second read, when JSON fields were asked for (`--text-field`,
`--id-field`): a first non-blank line starting with `{` makes it JSON lines; anything else is refused with a hint,
as the fields would be ignored.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, InputFormat, Quoting, data_suffix, input_format_for
from embedcli.formats.sources import (
    HEAD_BYTES,
    REPLACEMENTS,
    ByteSource,
    Decoding,
    check_readable,
    decoded_lines,
    seekable_path,
)
from embedcli.records import KeptRecord, Record

# The columns every vector file has: kept input columns may not take their names.
RESERVED_COLUMNS = ("id", "text", "embedding")


@dataclass(frozen=True)
class FieldSpec:
    """Where the text and the id live in structured inputs (JSONL fields, CSV/TSV/Parquet columns).

    A column is a header name or, when no header holds that name, a 1-based column number. `header` False reads
    the first CSV/TSV row as data (columns are then named "1", "2", ...). `quoting` None: by format (see Quoting).
    """

    text_field: str = "text"
    id_field: str | None = None
    text_column: str = "text"
    id_column: str | None = None
    header: bool = True
    quoting: Quoting | None = None
    keep_columns: tuple[str, ...] = ()  # other fields/columns carried to the output beside each vector

    def __post_init__(self) -> None:
        taken = [c for c in self.keep_columns if c in RESERVED_COLUMNS]
        if taken:
            raise UsageError(
                f"--keep-columns: '{taken[0]}' is a column embedcli writes itself",
                hint="the output already has id, text and embedding; keep other columns",
            )
        if len(set(self.keep_columns)) != len(self.keep_columns):
            raise UsageError("--keep-columns names a column twice")

    @property
    def names_json_fields(self) -> bool:
        """True when a JSON field other than the defaults, or a kept column, was asked for (then plain text on stdin
        is refused)."""
        return self.id_field is not None or self.text_field != "text" or bool(self.keep_columns)


@dataclass
class RecordReader:
    """Iterates over the records of several inputs in order, counting what it skipped and how far it got.

    Under `--encoding auto`, `encodings` names the encoding each input (each document of a folder) was read in."""

    paths: list[str]
    texts: list[str] = field(default_factory=list)
    decoding: Decoding = field(default_factory=Decoding)
    fields: FieldSpec = field(default_factory=FieldSpec)
    input_format: InputFormat | None = None
    name_ids: bool = False  # prefix ids with the input's name even for one input (stable keys of a store)
    glob: str | None = None  # which files of folder inputs are documents (None: by suffix, see formats.documents)
    labels: list[str] | None = None  # the names ids carry for `paths` (a fetched copy keeps its URL); None: paths
    skipped_blank: int = 0
    skipped_files: int = 0  # files in folders left out: binary, or not documents
    encodings: dict[str, str] = field(default_factory=dict)  # input name -> encoding told (--encoding auto)
    _replaced_before: int | None = None
    _done_bytes: int = 0
    _current: ByteSource | None = None

    def __post_init__(self) -> None:
        for path in self.paths:
            if path == STDIO or not os.path.isdir(path):
                check_readable(path)
        if self.glob is not None and not any(p != STDIO and os.path.isdir(p) for p in self.paths):
            raise UsageError("--glob picks files in folders: name a folder to read")
        if self.paths.count(STDIO) > 1:
            raise UsageError("stdin ('-') can be read only once")
        other = [c for c in self.fields.keep_columns if c != "title"]
        folder = next((p for p in self.paths if p != STDIO and os.path.isdir(p)), None)
        if other and folder is not None:  # the values would all be null: refuse rather than write empty columns
            raise UsageError(
                f"--keep-columns {other[0]}: the documents of the folder {folder} have no columns (a Markdown or "
                "HTML title is kept as `title` by itself)",
                hint="keep columns of JSON, JSONL, CSV, TSV or Parquet inputs",
            )
        if self.labels is not None and len(self.labels) != len(self.paths):
            raise ValueError("labels must name every path")

    @property
    def total_bytes(self) -> int | None:
        """Sum of the input sizes, or None when one of them is a stream of unknown length."""
        if STDIO in self.paths or any(os.path.isdir(p) for p in self.paths):
            return None
        return sum(os.path.getsize(p) for p in self.paths)

    @property
    def column_names(self) -> list[str]:
        """The extra columns every record carries, known before reading: the kept columns, then `title` when a
        folder holds Markdown or HTML documents (None for a document without one)."""
        from embedcli.formats.documents import folder_has_titles

        names = list(self.fields.keep_columns)
        folders = [p for p in self.paths if p != STDIO and os.path.isdir(p)]
        if "title" not in names and any(folder_has_titles(p, self.glob) for p in folders):
            names.append("title")
        return names

    @property
    def replaced(self) -> int:
        """How many invalid byte sequences `--errors replace` has turned into U+FFFD so far (0 for other policies)."""
        return 0 if self._replaced_before is None else REPLACEMENTS.count - self._replaced_before

    @property
    def bytes_read(self) -> int:
        current = self._current.position() if self._current is not None else 0
        return self._done_bytes + current

    def __iter__(self) -> Iterator[Record]:
        self._replaced_before = REPLACEMENTS.count
        for record in literal_records(self.texts):
            if record.text.strip():
                yield record
            else:
                self.skipped_blank += 1
        prefix_names = len(self.paths) > 1 or self.name_ids
        for path, label in zip(self.paths, self.labels or self.paths, strict=True):
            prefix = f"{'stdin' if path == STDIO else label}:" if prefix_names else ""
            records: Iterable[Record]
            if path != STDIO and os.path.isdir(path):
                records = self._documents(path, prefix)
            else:
                records = self._read_one(path, input_format_for(path, self.input_format))
            for record in records:
                if not record.text.strip():
                    self.skipped_blank += 1
                    continue
                yield record.with_id(prefix + record.id) if prefix else record

    def _documents(self, path: str, prefix: str) -> Iterator[Record]:
        from embedcli.formats.documents import DocumentFolder

        folder = DocumentFolder(path, self.glob, self.decoding)
        try:
            yield from folder
        finally:
            self.skipped_files += folder.skipped
            self.encodings.update((prefix + name, e) for name, e in folder.encodings.items())  # named as the ids

    def _read_one(self, path: str, fmt: InputFormat) -> Iterator[Record]:
        if fmt is InputFormat.parquet:
            yield from _parquet_records(path, self.fields)
            return
        with ByteSource(path) as source:
            self._current = source
            if path == STDIO and fmt is InputFormat.txt and self.input_format is None and self.fields.names_json_fields:
                fmt = _sniff_stdin(source, self.fields)
            if fmt is InputFormat.jsonl and _first_char(source) == b"[":
                yield from _json_array_records(source, self.decoding, self.fields)
            elif fmt is InputFormat.txt:
                if self.fields.keep_columns:
                    raise UsageError(
                        f"--keep-columns: {source.name} is plain text, one text a line, with no other columns",
                        hint="keep columns of JSON, JSONL, CSV, TSV or Parquet inputs",
                    )
                yield from (Record(str(n), line) for n, line in decoded_lines(source, self.decoding))
            elif fmt is InputFormat.jsonl:
                yield from _jsonl_records(source, self.decoding, self.fields)
            else:
                yield from _delimited_records(source, self.decoding, self.fields, fmt)
            self._done_bytes += source.size or 0
            self._current = None
            if source.encoding is not None:
                self.encodings[source.name] = source.encoding


_MISSING = object()


def _first_char(source: ByteSource) -> bytes:
    """The first non-blank byte of `source` (past a UTF-8 byte-order mark), looked at without consuming it."""
    head = _peek_head(source).lstrip(b"\xef\xbb\xbf").lstrip()
    return head[:1]


def _peek_head(source: ByteSource) -> bytes:
    stream = source.stream
    try:
        return stream.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(stream, "peek") else b""
    except (EOFError, OSError):
        return b""  # reported, with its cause, by the read that follows


def _sniff_stdin(source: ByteSource, fields: FieldSpec) -> InputFormat:
    """JSON lines when stdin's first non-blank line starts with `{` (or is an array); else refuse the JSON fields."""
    if _first_char(source) in (b"{", b"["):
        return InputFormat.jsonl
    given = (
        "--id-field"
        if fields.id_field is not None
        else "--text-field"
        if fields.text_field != "text"
        else "--keep-columns"
    )
    raise UsageError(
        f"{given} applies to JSON input, but stdin does not start with a JSON object",
        hint="pipe JSON lines (one object per line), pass --input-format, or drop the option for plain text lines",
    )


def field_value(row: dict[str, Any], path: str) -> Any:
    """The value at `path` in `row`: the key itself when present, else a dotted path into nested objects
    (`meta.body`); a sentinel object (not None) when absent."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _jsonl_records(source: ByteSource, decoding: Decoding, fields: FieldSpec) -> Iterator[Record]:
    for number, line in decoded_lines(source, decoding):
        if not line.strip():
            yield Record(str(number), "")
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{source.name}:{number}: not valid JSON ({exc})") from None
        yield _row_record(row, fields, number, f"{source.name}:{number}")


def _json_array_records(source: ByteSource, decoding: Decoding, fields: FieldSpec) -> Iterator[Record]:
    """The objects of a JSON array input, ids numbered from 1 in array order unless --id-field says otherwise."""
    decoding = decoding.for_source(source)
    try:
        data = source.stream.read()
    except (EOFError, OSError) as exc:
        raise InputError(f"{source.name}: read failed ({exc})") from None
    try:
        text = data.decode(decoding.encoding, decoding.codec_errors).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source.name}: not valid {decoding.encoding} at byte {exc.start + 1}",
            hint="pass the right --encoding, or --errors replace",
        ) from None
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{source.name}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(rows, list):
        raise InputError(f"{source.name}: expected a JSON array of objects, got {type(rows).__name__}")
    for number, row in enumerate(rows, start=1):
        yield _row_record(row, fields, number, f"{source.name}: item {number}")


def _row_record(row: object, fields: FieldSpec, number: int, where: str) -> Record:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    value = field_value(row, fields.text_field)
    if value is _MISSING:
        raise InputError(
            f"{where}: no field '{fields.text_field}'",
            hint=f"fields here: {', '.join(map(str, row)) or '(none)'}; choose one with --text-field "
            "(a dotted path such as meta.body reaches into nested objects)",
        )
    if isinstance(value, bool | list | dict):
        kind = {bool: "a boolean", list: "a list", dict: "an object"}[type(value)]
        raise InputError(
            f"{where}: field '{fields.text_field}' holds {kind}, not text",
            hint="texts are JSON strings (numbers are read as text too); a dotted path reaches nested fields",
        )
    record_id = _id_value(row, fields.id_field, number, where)
    if not fields.keep_columns:
        return Record(record_id, _text_value(value))
    # A kept field absent from one object is null there: JSON objects need not all have the same keys.
    kept = {name: field_value(row, name) for name in fields.keep_columns}
    return KeptRecord(record_id, _text_value(value), {k: None if v is _MISSING else v for k, v in kept.items()})


def _delimited_records(source: ByteSource, decoding: Decoding, fields: FieldSpec, fmt: InputFormat) -> Iterator[Record]:
    """Rows of a CSV/TSV input; `line` numbers in errors are physical lines of the file (a row may span several)."""
    delimiter = "\t" if fmt is InputFormat.tsv else ","
    quoting = fields.quoting or (Quoting.none if fmt is InputFormat.tsv else Quoting.minimal)
    line = 0

    def lines() -> Iterator[str]:
        nonlocal line
        for line, text in decoded_lines(source, decoding, keep_ends=True):  # noqa: B007 - read by the errors below
            yield text

    csv.field_size_limit(sys.maxsize)  # lines are bounded by decoding.max_line_bytes instead
    reader = csv.reader(
        lines(), delimiter=delimiter, quoting=csv.QUOTE_NONE if quoting is Quoting.none else csv.QUOTE_MINIMAL
    )
    kind = fmt.value.upper()
    try:
        first = next(reader, None)
        if first is None:
            return
        header = first if fields.header else [str(i) for i in range(1, len(first) + 1)]
        text_at = _column_index(source.name, header, fields.text_column, "--text-column", fields.header)
        id_at = None
        if fields.id_column is not None:
            id_at = _column_index(source.name, header, fields.id_column, "--id-column", fields.header)
        kept = {c: _column_index(source.name, header, c, "--keep-columns", fields.header) for c in fields.keep_columns}
        # With a header every row has its width; without one, rows may be ragged past the columns used.
        needed = len(header) if fields.header else max(text_at, id_at or 0, *kept.values()) + 1
        rows = reader if fields.header else _chain_one(first, reader)
        number = 0
        for row in rows:
            if not row:  # a blank line, as csv.DictReader skips it
                continue
            number += 1
            if len(row) < needed or (fields.header and len(row) > needed):
                raise _field_count_error(source.name, line, len(row), needed, fields.header, kind, quoting)
            record_id = str(number) if id_at is None else row[id_at]
            if kept:
                yield KeptRecord(record_id, row[text_at], {c: row[i] for c, i in kept.items()})
            else:
                yield Record(record_id, row[text_at])
    except csv.Error as exc:
        raise InputError(f"{source.name}:{line}: malformed {kind} ({exc})") from None


def _chain_one(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _field_count_error(
    name: str, line: int, got: int, needed: int, header: bool, kind: str, quoting: Quoting
) -> InputError:
    expected = f"{needed} as in the header" if header else f"at least {needed} for the columns asked for"
    hint = "check the delimiter (--input-format csv or tsv)"
    if quoting is Quoting.minimal:
        hint += "; a quote inside a field may have merged rows: try --quoting none"
    if header:
        hint += "; a file with no header row needs --no-header"
    return InputError(f"{name}:{line}: {got} fields, expected {expected} ({kind})", hint=hint)


def _column_index(name: str, header: list[str], column: str, option: str, has_header: bool) -> int:
    """The position of `column` in `header`: by name, else by 1-based number."""
    if column in header:
        return header.index(column)
    if column.isdigit() and 1 <= int(column) <= len(header):
        return int(column) - 1
    shown = ", ".join(header) if has_header else f"1 to {len(header)} (no header)"
    hint = f"columns here: {shown or '(none)'}; choose one with {option}"
    raise InputError(f"{name}: no column '{column}'", hint=hint)


def _parquet_records(path: str, fields: FieldSpec) -> Iterator[Record]:
    import pyarrow.parquet as pq

    name = "<stdin>" if path == STDIO else path
    with seekable_path(path) as real_path:
        try:
            parquet = pq.ParquetFile(real_path)
        except Exception as exc:  # pyarrow raises several types for "not Parquet"
            raise InputError(f"{name}: not a readable Parquet file ({exc})") from None
        header = list(parquet.schema_arrow.names)
        text_column = header[_column_index(name, header, fields.text_column, "--text-column", True)]
        columns = [text_column]
        id_column = None
        if fields.id_column is not None:
            id_column = header[_column_index(name, header, fields.id_column, "--id-column", True)]
            columns.append(id_column)
        kept = {c: header[_column_index(name, header, c, "--keep-columns", True)] for c in fields.keep_columns}
        columns += [c for c in kept.values() if c not in columns]
        number = 0
        for batch in parquet.iter_batches(batch_size=4096, columns=columns):
            texts = batch.column(text_column).to_pylist()
            ids = batch.column(id_column).to_pylist() if id_column else None
            values = {c: batch.column(source).to_pylist() for c, source in kept.items()}
            for i, text in enumerate(texts):
                number += 1
                record_id = str(number) if ids is None or ids[i] is None else str(ids[i])
                if kept:
                    yield KeptRecord(record_id, _text_value(text), {c: v[i] for c, v in values.items()})
                else:
                    yield Record(record_id, _text_value(text))


def _text_value(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _id_value(row: dict[str, Any], id_field: str | None, number: int, where: str) -> str:
    if id_field is None:
        return str(number)
    value = field_value(row, id_field)
    if value is _MISSING or value is None:
        raise InputError(f"{where}: no id field '{id_field}'")
    return str(value)


def literal_records(texts: Iterable[str]) -> Iterator[Record]:
    """Records for texts given on the command line (`-t`), numbered from 1."""
    for number, text in enumerate(texts, start=1):
        yield Record(str(number), text)


__all__ = ["FieldSpec", "Quoting", "RecordReader", "data_suffix", "literal_records"]
