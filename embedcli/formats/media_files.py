"""Which files are images or sounds: folders walked recursively, files named one by one (from arguments, globs or
`--files -`), each kept or skipped by its content (magic bytes), never by its suffix. Ids are relative paths.

Ids are unique by construction, and `MediaListing.root` says what they are relative to: one folder alone gives ids
relative to that folder (`photos/` -> `sub/c.png`); anything else (several folders, folders and files, files from
`--files -`) gives every file its path as named, a folder's files prefixed with the folder as named
(`a/ b/` -> `a/x.png`, `b/x.png`), all relative to the working folder. Later commands find a file at `root / id`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from embedcli.errors import InputError, UsageError
from embedcli.formats.media import MediaKind, Sniffed, sniff_file


@dataclass(frozen=True)
class MediaFile:
    """One input file: its id (the path relative to the folder it was found in, or as named), path and content."""

    id: str
    path: Path
    sniffed: Sniffed


@dataclass
class MediaListing:
    """The files to embed, in a stable order, and the files in walked folders that were left out (not media, or
    not of the kind asked for)."""

    files: list[MediaFile] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    root: str | None = None  # the absolute folder ids are relative to (absolute ids stand alone)

    @property
    def kinds(self) -> set[MediaKind]:
        return {f.sniffed.kind for f in self.files}


def find_media(inputs: Iterable[str | os.PathLike[str]], kind: MediaKind | None = None) -> MediaListing:
    """The image and audio files under `inputs` (folders, walked recursively in sorted order, and files).

    Ids: relative to the folder when `inputs` is one folder alone, else each file's path as named (a folder's files
    prefixed with the folder as named), so two folders holding the same relative path give two ids; `root` records
    which. A file inside a folder that is not media (or not `kind`) is skipped and listed; a file named directly that is
    not raises InputError, as does an unreadable one; a missing input raises UsageError. Hidden files and folders
    (names starting with ".") are not walked; a folder's files come in the order of their relative paths. A file
    reached twice is listed once.
    """
    named = list(inputs)
    alone = len(named) == 1 and Path(named[0]).is_dir()
    listing = MediaListing(root=os.path.abspath(named[0] if alone else os.curdir))
    seen: set[Path] = set()
    for raw in named:
        root = Path(raw)
        if root.is_dir():
            # Sorted by relative path (as `find | sort` lists them), so ids come out in the same order everywhere.
            for path in sorted(_walk(root), key=lambda p: p.relative_to(root).as_posix()):
                found = _sniffed(path)
                if found is None or (kind is not None and found.kind is not kind):
                    listing.skipped.append(path)
                elif _first_time(path, seen):
                    listing.files.append(MediaFile(_folder_id(root, path, alone), path, found))
        elif root.is_file():
            found = _sniffed(root)
            if found is None:
                raise InputError(f"{raw}: not an image or audio file (judged by its content)")
            if kind is not None and found.kind is not kind:
                raise InputError(f"{raw}: a {found.format} {found.kind.value} file, not {kind.value}")
            if _first_time(root, seen):
                listing.files.append(MediaFile(os.fspath(raw), root, found))
        else:
            raise UsageError(f"no such file or folder: {raw}")
    _refuse_duplicate_ids(listing.files)
    return listing


def _refuse_duplicate_ids(files: list[MediaFile]) -> None:
    """Two different files with one id would be two rows no later command could tell apart (ids as named are
    unique for distinct files; this guards the rule)."""
    first: dict[str, Path] = {}
    for f in files:
        if f.id in first:
            raise InputError(f"two files would both get the id {f.id!r}: {first[f.id]} and {f.path}")
        first[f.id] = f.path


def _folder_id(folder: Path, path: Path, alone: bool) -> str:
    relative = path.relative_to(folder).as_posix()
    return relative if alone else os.path.join(os.fspath(folder), relative)


def read_file_list(lines: Iterable[str]) -> Iterator[str]:
    """Paths from `--files -`: one a line, surrounding whitespace and blank lines dropped."""
    for line in lines:
        path = line.strip()
        if path:
            yield path


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(folder) / name


def _sniffed(path: Path) -> Sniffed | None:
    try:
        return sniff_file(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _first_time(path: Path, seen: set[Path]) -> bool:
    key = path.resolve()
    if key in seen:
        return False
    seen.add(key)
    return True


def read_media_column(
    path: str, column: str, id_column: str | None = None, option: str = "--image-column"
) -> list[tuple[str, str | bytes]]:
    """(id, source) pairs from a Parquet or JSONL table whose `column` holds file paths or file contents (bytes).

    Ids come from `id_column`, else the 1-based row number. Null cells raise InputError naming the row; a missing
    column raises UsageError naming `option`. Paths are used as written (relative to the working folder).
    """
    from embedcli.formats import InputFormat, input_format_for

    fmt = input_format_for(path)
    if fmt is InputFormat.parquet:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        for wanted, flag in ((column, option), (id_column, "--id-column")):
            if wanted is not None and wanted not in names:
                raise UsageError(f"{path}: no column '{wanted}' for {flag}; it has: {', '.join(names)}")
        table = pq.read_table(path, columns=[c for c in (column, id_column) if c is not None])
        values = table.column(column).to_pylist()
        ids = table.column(id_column).to_pylist() if id_column else None
    elif fmt is InputFormat.jsonl:
        import orjson

        rows = [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]
        missing = next((n for n, row in enumerate(rows, 1) if column not in row), None)
        if missing is not None:
            raise UsageError(f"{path}: line {missing} has no field '{column}' for {option}")
        values = [row[column] for row in rows]
        ids = [row.get(id_column) for row in rows] if id_column else None
    else:
        raise UsageError(f"{option} reads a Parquet or JSONL file, not {path}")
    pairs: list[tuple[str, str | bytes]] = []
    for n, value in enumerate(values, 1):
        if not isinstance(value, (str, bytes)) or not value:
            raise InputError(f"{path}: row {n} of column '{column}' holds no path or bytes")
        pairs.append((str(ids[n - 1]) if ids is not None else str(n), value))
    return pairs
