"""The one way out: where an output goes and in which format, for every kind of file.

`resolve_output` applies, once for every command, the rules of the stream contract: `-` (or no path) is stdout;
a file's format comes from `--format` or its suffix (the registry in `formats`); binary data is refused on a
terminal, as gzip refuses; files that cannot go to stdout say so; and an output never names a file the command
reads (an input, a model, a reducer). Whether stdout is a terminal is the caller's fact to pass in: library code
never asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from embedcli.errors import UsageError
from embedcli.formats import STDIO, Kind, file_type, format_for, format_of


@dataclass(frozen=True)
class OutputTarget:
    """Where one output goes: `path` None means stdout; `format` is a registry format name of `kind`."""

    path: str | None
    format: str
    kind: Kind

    @property
    def to_stdout(self) -> bool:
        return self.path is None


def resolve_output(
    path: str | None,
    kind: Kind,
    override: str | None = None,
    *,
    stdout_is_terminal: bool,
    on_terminal: str | None = None,
    in_pipe: str | None = None,
    protected: Iterable[str | None] = (),
) -> OutputTarget:
    """Resolve one output. Raises UsageError for an unknown suffix, an `override` that contradicts the target's
    known suffix (`-o x.parquet -f jsonl`), binary data for a terminal, a format that cannot go to stdout, or a
    target that names one of the `protected` paths (what the command reads).

    For stdout, the format is `override`, else `on_terminal` or `in_pipe` by where stdout goes.
    """
    if path is not None and path != STDIO:
        check_not_protected(path, protected)
        check_suffix_agrees(path, kind, override)
        return OutputTarget(path, override or format_for(path, kind), kind)
    fmt = override or (on_terminal if stdout_is_terminal else in_pipe)
    if fmt is None:
        article = "an" if kind.value[0] in "aeiou" else "a"
        raise UsageError(f"{article} {kind.value} output needs a file name here", hint="pass -o FILE")
    entry = file_type(kind, fmt)
    if not entry.to_stdout:
        raise UsageError(f"{fmt} {kind.value} cannot go to stdout", hint="write to a file with -o FILE")
    if entry.binary and stdout_is_terminal:
        raise UsageError(
            f"refusing to write {fmt} data to a terminal",
            hint="write to a file with -o FILE, pipe it on, or use --format jsonl"
            if kind is Kind.vectors
            else "write to a file with -o FILE, or redirect stdout",
        )
    return OutputTarget(None, fmt, kind)


def check_suffix_agrees(path: str, kind: Kind, override: str | None) -> None:
    """Refuse a format that contradicts the format `path`'s suffix names: the file would lie about its content."""
    named = format_of(path, kind)
    if override is not None and named is not None and named != override:
        raise UsageError(
            f"--format {override} contradicts the name '{path}', which says {named}",
            hint=f"drop --format, or name the file for {override}",
        )


def check_not_protected(target: str, protected: Iterable[str | None]) -> None:
    """Refuse an output path that names a file the command reads (it would be destroyed before it is read)."""
    target_path = Path(target).resolve()
    for path in protected:
        if path and path != STDIO and Path(path).resolve() == target_path:
            raise UsageError(f"refusing to overwrite the input file '{path}' with the output")
