"""Inputs read as documents rather than lines, for `embed --chunk`: a plain-text file (or stdin) is one document,
a folder gives one document per file, and structured inputs (JSONL, JSON, CSV/TSV, Parquet) one per record.

A plain-text document's id is its path as given (`stdin` for `-`); its text is the whole file decoded (byte-order
mark removed, compression undone, line ends kept as in the file), so chunk spans are offsets into exactly that
text. Only one plain-text document is held at a time. Blank documents are skipped and counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from embedcli.errors import InputError, UsageError
from embedcli.formats import STDIO, InputFormat, input_format_for
from embedcli.formats.documents import read_document
from embedcli.formats.sources import REPLACEMENTS, Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader, literal_records
from embedcli.records import Record


@dataclass
class WholeTexts:
    """Iterates over the documents of `paths` (after the literal `texts`), counting what it skipped and read.

    `bytes_read` counts the inputs read record by record; a plain-text document is read at once, so its size is put
    in `sizes` (by document id) for the caller to count as it gets through the document.
    """

    paths: list[str]
    texts: list[str] = field(default_factory=list)
    decoding: Decoding = field(default_factory=Decoding)
    fields: FieldSpec = field(default_factory=FieldSpec)
    input_format: InputFormat | None = None
    glob: str | None = None
    labels: list[str] | None = None  # the names ids carry for `paths` (a fetched copy keeps its URL); None: paths
    skipped_blank: int = 0
    skipped_files: int = 0
    _replaced_before: int | None = None
    _done_bytes: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    _current: RecordReader | None = None

    @property
    def replaced(self) -> int:
        """Invalid byte sequences `--errors replace` has turned into U+FFFD so far."""
        return 0 if self._replaced_before is None else REPLACEMENTS.count - self._replaced_before

    @property
    def bytes_read(self) -> int:
        return self._done_bytes + (self._current.bytes_read if self._current is not None else 0)

    def __iter__(self) -> Iterator[Record]:
        self._replaced_before = REPLACEMENTS.count
        for record in literal_records(self.texts):
            yield from self._kept(record)
        for path, label in zip(self.paths, self.labels or self.paths, strict=True):
            if self._is_plain_text(path):
                if self.fields.keep_columns:
                    raise UsageError(
                        f"--keep-columns: {'stdin' if path == STDIO else label} is plain text, one document with no "
                        "other columns",
                        hint="keep columns of JSON, JSONL, CSV, TSV or Parquet inputs",
                    )
                text = read_document(Path(path), self.decoding)
                if text is None:
                    raise InputError(f"{path}: a binary file (it holds NUL bytes), not text")
                name = "stdin" if path == STDIO else label
                if path != STDIO:
                    self.sizes[name] = os.path.getsize(path)
                yield from self._kept(Record(name, text))
                continue
            reader = RecordReader(
                [path],
                decoding=self.decoding,
                fields=self.fields,
                input_format=self.input_format,
                name_ids=len(self.paths) > 1,
                glob=self.glob,
                labels=[label],
            )
            self._current = reader
            for record in reader:
                yield from self._kept(record)
            self.skipped_blank += reader.skipped_blank
            self.skipped_files += reader.skipped_files
            self._done_bytes += reader.bytes_read
            self._current = None

    def _is_plain_text(self, path: str) -> bool:
        if path != STDIO and os.path.isdir(path):
            return False
        if path == STDIO and self.input_format is None and self.fields.names_json_fields:
            return False  # JSON fields were named: the reader sniffs stdin for JSON lines (or refuses)
        return input_format_for(path, self.input_format) is InputFormat.txt

    def _kept(self, record: Record) -> Iterator[Record]:
        if record.text.strip():
            yield record
        else:
            self.skipped_blank += 1


__all__ = ["WholeTexts"]
