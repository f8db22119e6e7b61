"""Folders of documents: one record per file, the id its path relative to the folder, Markdown and HTML as the
text a reader sees.

Without a glob, the files read are those with a document suffix (DOCUMENT_SUFFIXES); with one (`**/*.md`), the
files it matches, whatever their suffix. Either way hidden files and folders (names starting with ".") are not
walked, and a file whose first block holds a NUL byte is binary: skipped and counted, never embedded. Markdown is
rendered by markdown-it-py (CommonMark; installed with rich) and, like HTML, reduced to its visible text by the
standard library's html.parser: no script, style or head content, one line per block. Compressed files are
decompressed by their magic bytes, as every text input is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from embedcli.errors import InputError, UsageError
from embedcli.formats.sources import HEAD_BYTES, ByteSource, Decoding
from embedcli.records import Record

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
DOCUMENT_SUFFIXES = frozenset({".txt", ".rst", *MARKDOWN_SUFFIXES, *HTML_SUFFIXES})
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zstd")


@dataclass
class DocumentFolder:
    """The documents of one folder, in the order of their relative paths; `skipped` counts the files left out
    (binary, or not a document when no glob is given) once the folder has been read."""

    root: str
    glob: str | None = None
    decoding: Decoding = field(default_factory=Decoding)
    skipped: int = 0

    def files(self) -> Iterator[Path]:
        """The candidate files, sorted by relative path; counts those that are not documents as skipped."""
        root = Path(self.root)
        if self.glob is not None:
            if os.path.isabs(self.glob):
                raise UsageError(f"--glob '{self.glob}' must be relative to the folder")
            matched = sorted(p for p in root.glob(self.glob) if p.is_file() and not _hidden(p.relative_to(root)))
            yield from matched
            return
        for path in _walk(root):
            if document_suffix(path.name) in DOCUMENT_SUFFIXES:
                yield path
            else:
                self.skipped += 1

    def __iter__(self) -> Iterator[Record]:
        root = Path(self.root)
        for path in self.files():
            text = read_document(path, self.decoding)
            if text is None:
                self.skipped += 1
                continue
            yield Record(path.relative_to(root).as_posix(), text)


def document_suffix(name: str) -> str:
    """The suffix that says how to read a file, looking through a compression suffix: `a.md.gz` -> `.md`."""
    lower = name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
            break
    return os.path.splitext(lower)[1]


def read_document(path: Path, decoding: Decoding) -> str | None:
    """The visible text of one file, or None for a binary file (a NUL byte in its first block).

    Raises InputError naming the file when it does not decode in `decoding.encoding` (with --errors strict).
    """
    with ByteSource(os.fspath(path)) as source:
        try:
            data = source.stream.read()
        except (EOFError, OSError) as exc:
            raise InputError(f"{path}: read failed ({exc})") from None
    if b"\x00" in data[:HEAD_BYTES]:
        return None
    try:
        text = data.decode(decoding.encoding, decoding.codec_errors).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid {decoding.encoding} (byte 0x{data[exc.start : exc.start + 1].hex()} "
            f"at offset {exc.start})",
            hint="pass the right --encoding (e.g. latin-1), or --errors replace",
        ) from None
    suffix = document_suffix(path.name)
    if suffix in MARKDOWN_SUFFIXES:
        return markdown_text(text)
    if suffix in HTML_SUFFIXES:
        return html_text(text)
    return text


def markdown_text(markdown: str) -> str:
    """The text a reader of rendered `markdown` sees: no markup, links as their words, one line per block."""
    from markdown_it import MarkdownIt

    return html_text(MarkdownIt("commonmark").render(markdown))


def html_text(html: str) -> str:
    """The visible text of `html`: tags dropped, script/style/head/template content dropped, entities decoded, one
    line per block element, runs of spaces collapsed."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


_INVISIBLE = frozenset({"script", "style", "head", "template", "noscript"})
_BLOCKS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "article",
        "header", "footer", "blockquote", "pre", "hr", "dt", "dd", "title", "main", "nav", "aside", "figcaption",
    }
)  # fmt: skip


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _walk(root: Path) -> Iterator[Path]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder) / name for name in names if not name.startswith(".")]
    yield from sorted(found, key=lambda p: p.relative_to(root).as_posix())
