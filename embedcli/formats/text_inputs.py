"""Readers that turn text inputs (txt, JSONL, CSV/TSV, Parquet, gzipped or not, files or stdin) into records.

Ids default to the 1-based line or row number within each input, prefixed with the input's name when there
are several inputs, so outputs can always be joined back. Blank texts are skipped and counted, never embedded.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, InputFormat, data_suffix, input_format_for
from embedcli.formats.sources import (
    ByteSource,
    Decoding,
    check_readable,
    decoded_lines,
    seekable_path,
    text_stream,
)
from embedcli.records import Record


@dataclass(frozen=True)
class FieldSpec:
    """Where the text and the id live in structured inputs (JSONL fields, CSV/TSV/Parquet columns)."""

    text_field: str = "text"
    id_field: str | None = None
    text_column: str = "text"
    id_column: str | None = None


@dataclass
class RecordReader:
    """Iterates over the records of several inputs in order, counting what it skipped and how far it got."""

    paths: list[str]
    texts: list[str] = field(default_factory=list)
    decoding: Decoding = field(default_factory=Decoding)
    fields: FieldSpec = field(default_factory=FieldSpec)
    input_format: InputFormat | None = None
    name_ids: bool = False  # prefix ids with the input's name even for one input (stable keys of a store)
    skipped_blank: int = 0
    _done_bytes: int = 0
    _current: ByteSource | None = None

    def __post_init__(self) -> None:
        for path in self.paths:
            check_readable(path)
        if self.paths.count(STDIO) > 1:
            raise UsageError("stdin ('-') can be read only once")

    @property
    def total_bytes(self) -> int | None:
        """Sum of the input sizes, or None when one of them is a stream of unknown length."""
        if STDIO in self.paths:
            return None
        return sum(os.path.getsize(p) for p in self.paths)

    @property
    def bytes_read(self) -> int:
        current = self._current.position() if self._current is not None else 0
        return self._done_bytes + current

    def __iter__(self) -> Iterator[Record]:
        for record in literal_records(self.texts):
            if record.text.strip():
                yield record
            else:
                self.skipped_blank += 1
        prefix_names = len(self.paths) > 1 or self.name_ids
        for path in self.paths:
            fmt = input_format_for(path, self.input_format)
            prefix = f"{'stdin' if path == STDIO else path}:" if prefix_names else ""
            for record in self._read_one(path, fmt):
                if not record.text.strip():
                    self.skipped_blank += 1
                    continue
                yield Record(prefix + record.id, record.text)

    def _read_one(self, path: str, fmt: InputFormat) -> Iterator[Record]:
        if fmt is InputFormat.parquet:
            yield from _parquet_records(path, self.fields)
            return
        with ByteSource(path) as source:
            self._current = source
            if fmt is InputFormat.txt:
                yield from (Record(str(n), line) for n, line in decoded_lines(source, self.decoding))
            elif fmt is InputFormat.jsonl:
                yield from _jsonl_records(source, self.decoding, self.fields)
            else:
                yield from _delimited_records(source, self.decoding, self.fields, fmt)
            self._done_bytes += source.size or 0
            self._current = None


def _jsonl_records(source: ByteSource, decoding: Decoding, fields: FieldSpec) -> Iterator[Record]:
    for number, line in decoded_lines(source, decoding):
        if not line.strip():
            yield Record(str(number), "")
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{source.name}:{number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise InputError(f"{source.name}:{number}: expected a JSON object, got {type(row).__name__}")
        if fields.text_field not in row:
            raise InputError(
                f"{source.name}:{number}: no field '{fields.text_field}'",
                hint=f"fields here: {', '.join(map(str, row)) or '(none)'}; choose one with --text-field",
            )
        yield Record(_id_value(row, fields.id_field, number, source.name), _text_value(row[fields.text_field]))


def _delimited_records(source: ByteSource, decoding: Decoding, fields: FieldSpec, fmt: InputFormat) -> Iterator[Record]:
    text = text_stream(source, decoding)
    try:
        reader = csv.DictReader(text, delimiter="\t" if fmt is InputFormat.tsv else ",")
        header = reader.fieldnames or []
        _require_column(source.name, header, fields.text_column, "--text-column")
        if fields.id_column is not None:
            _require_column(source.name, header, fields.id_column, "--id-column")
        csv.field_size_limit(sys.maxsize)
        for number, row in enumerate(reader, start=1):
            yield Record(_id_value(row, fields.id_column, number, source.name), _text_value(row[fields.text_column]))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source.name}: not valid {decoding.encoding} near row {reader.line_num}: {exc.reason}",
            hint="pass the right --encoding (e.g. latin-1), or --errors replace",
        ) from None
    except csv.Error as exc:
        raise InputError(f"{source.name}: malformed {fmt.value.upper()} near row {reader.line_num}: {exc}") from None
    finally:
        text.detach()


def _parquet_records(path: str, fields: FieldSpec) -> Iterator[Record]:
    import pyarrow.parquet as pq

    name = "<stdin>" if path == STDIO else path
    with seekable_path(path, ".parquet") as real_path:
        try:
            parquet = pq.ParquetFile(real_path)
        except Exception as exc:  # pyarrow raises several types for "not Parquet"
            raise InputError(f"{name}: not a readable Parquet file ({exc})") from None
        header = parquet.schema_arrow.names
        _require_column(name, header, fields.text_column, "--text-column")
        columns = [fields.text_column]
        if fields.id_column is not None:
            _require_column(name, header, fields.id_column, "--id-column")
            columns.append(fields.id_column)
        number = 0
        for batch in parquet.iter_batches(batch_size=4096, columns=columns):
            texts = batch.column(fields.text_column).to_pylist()
            ids = batch.column(fields.id_column).to_pylist() if fields.id_column else None
            for i, text in enumerate(texts):
                number += 1
                record_id = str(number) if ids is None or ids[i] is None else str(ids[i])
                yield Record(record_id, _text_value(text))


def _require_column(name: str, header: Iterable[str], column: str, option: str) -> None:
    header = list(header)
    if column not in header:
        raise InputError(
            f"{name}: no column '{column}'",
            hint=f"columns here: {', '.join(header) or '(none)'}; choose one with {option}",
        )


def _text_value(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _id_value(row: dict, id_field: str | None, number: int, name: str) -> str:
    if id_field is None:
        return str(number)
    if id_field not in row or row[id_field] is None:
        raise InputError(f"{name}:{number}: no id field '{id_field}'")
    return str(row[id_field])


def literal_records(texts: Iterable[str]) -> Iterator[Record]:
    """Records for texts given on the command line (`-t`), numbered from 1."""
    for number, text in enumerate(texts, start=1):
        yield Record(str(number), text)


__all__ = ["FieldSpec", "RecordReader", "data_suffix", "literal_records"]
