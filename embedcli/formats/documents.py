"""Folders of documents: one record per file, the id its path relative to the folder, Markdown and HTML as the
text a reader sees.

Without a glob, the files read are those with a document suffix (DOCUMENT_SUFFIXES); with one (`**/*.md`), the
files it matches, whatever their suffix. Either way hidden files and folders (names starting with ".") are not
walked, and a file whose first block holds a NUL byte is binary: skipped and counted, never embedded. Markdown is
rendered by markdown-it-py (CommonMark; installed with rich) and, like HTML, reduced to its visible text by the
standard library's html.parser: no script, style or head content, one line per block. Compressed files are
decompressed by their magic bytes, as every text input is.

A Markdown or HTML document's title is kept beside its text (the `title` column): HTML's `<title>`, else its first
`<h1>`; Markdown's front-matter `title:`, else its first level-1 heading. Front matter (a leading `---` block) is
not part of the visible text. Under `--encoding auto` each file's encoding is told from its bytes
(`sources.detect_encoding`) and recorded in `DocumentFolder.encodings`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

from embedcli.errors import InputError, UsageError
from embedcli.formats.sources import AUTO, HEAD_BYTES, ByteSource, Decoding, detect_encoding
from embedcli.records import KeptRecord, Record

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
    encodings: dict[str, str] = field(default_factory=dict)  # relative path -> encoding told (--encoding auto)

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
            document = load_document(path, self.decoding)
            if document is None:
                self.skipped += 1
                continue
            name = path.relative_to(root).as_posix()
            if document.encoding is not None:
                self.encodings[name] = document.encoding
            yield KeptRecord(name, document.text, {"title": document.title})


def folder_has_titles(root: str, glob: str | None = None) -> bool:
    """Whether the documents of the folder `root` (as DocumentFolder lists them) include Markdown or HTML."""
    titled = MARKDOWN_SUFFIXES | HTML_SUFFIXES
    return any(document_suffix(p.name) in titled for p in DocumentFolder(root, glob).files())


class Document(NamedTuple):
    """One file's visible text, its title (None: it has none) and the encoding told under --encoding auto."""

    text: str
    title: str | None = None
    encoding: str | None = None


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
    document = load_document(path, decoding)
    return None if document is None else document.text


def load_document(path: Path, decoding: Decoding) -> Document | None:
    """The visible text and title of one file, or None for a binary file (a NUL byte in its first block).

    Raises InputError naming the file when it does not decode in `decoding.encoding` (with --errors strict).
    """
    with ByteSource(os.fspath(path)) as source:
        try:
            data = source.stream.read()
        except (EOFError, OSError) as exc:
            raise InputError(f"{path}: read failed ({exc})") from None
    told = detect_encoding(data, str(path)) if decoding.encoding == AUTO else None
    encoding = told or decoding.encoding
    if b"\x00" in data[:HEAD_BYTES] and not encoding.startswith(("utf-16", "utf-32")):
        return None
    try:
        text = data.decode(encoding, decoding.codec_errors).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid {encoding} (byte 0x{data[exc.start : exc.start + 1].hex()} at offset {exc.start})",
            hint="pass the right --encoding (e.g. latin-1, or auto), or --errors replace",
        ) from None
    suffix = document_suffix(path.name)
    if suffix in MARKDOWN_SUFFIXES:
        front_title, body = front_matter_title(text)
        page = _VisibleText.of(_render_markdown(body))
        return Document(page.text, front_title or page.h1, told)
    if suffix in HTML_SUFFIXES:
        page = _VisibleText.of(text)
        return Document(page.text, page.title or page.h1, told)
    return Document(text, None, told)


def front_matter_title(markdown: str) -> tuple[str | None, str]:
    """(the `title:` of a leading `---` front-matter block, or None; the Markdown after that block)."""
    lines = markdown.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, markdown
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() in ("---", "...")), None)
    if end is None:
        return None, markdown
    title = None
    for line in lines[1:end]:
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == "title":
            title = value.strip().strip("'\"") or None
            break
    return title, "\n".join(lines[end + 1 :])


def _render_markdown(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def markdown_text(markdown: str) -> str:
    """The text a reader of rendered `markdown` sees: no markup, links as their words, one line per block."""
    return html_text(_render_markdown(markdown))


def html_text(html: str) -> str:
    """The visible text of `html`: tags dropped, script/style/head/template content dropped, entities decoded, one
    line per block element, runs of spaces collapsed."""
    return _VisibleText.of(html).text


_INVISIBLE = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCKS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "article",
        "header", "footer", "blockquote", "pre", "hr", "dt", "dd", "title", "main", "nav", "aside", "figcaption",
    }
)  # fmt: skip


class _VisibleText(HTMLParser):
    """The visible text of a page, and the words of its `<title>` and of its first `<h1>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._title: list[str] | None = None  # collecting while inside <title>
        self._h1: list[str] | None = None
        self.title: str | None = None
        self.h1: str | None = None

    @classmethod
    def of(cls, html: str) -> _VisibleText:
        page = cls()
        page.feed(html)
        page.close()
        return page

    @property
    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self._title = []
        if tag == "h1" and self.h1 is None and not self._hidden:
            self._h1 = []
        if tag in _INVISIBLE:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.title, self._title = " ".join("".join(self._title).split()) or None, None
        if tag == "h1" and self._h1 is not None:
            self.h1, self._h1 = " ".join("".join(self._h1).split()) or None, None
        if tag in _INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        if self._h1 is not None:
            self._h1.append(data)
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
