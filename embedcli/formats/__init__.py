"""File and stream formats: what a suffix means, and the enums the CLI shows as choices."""

from __future__ import annotations

from enum import Enum
from pathlib import PurePath

from embedcli.errors import UsageError

STDIO = "-"


class InputFormat(str, Enum):
    """Formats of text inputs."""

    txt = "txt"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"


class OutputFormat(str, Enum):
    """Formats of vector outputs. `arrows` is an Arrow IPC stream (pipe-friendly), `arrow` an Arrow IPC file."""

    parquet = "parquet"
    npy = "npy"
    arrows = "arrows"
    arrow = "arrow"
    jsonl = "jsonl"

    @property
    def is_binary(self) -> bool:
        return self is not OutputFormat.jsonl


_INPUT_SUFFIXES = {
    ".txt": InputFormat.txt,
    ".text": InputFormat.txt,
    ".jsonl": InputFormat.jsonl,
    ".ndjson": InputFormat.jsonl,
    ".json": InputFormat.jsonl,
    ".csv": InputFormat.csv,
    ".tsv": InputFormat.tsv,
    ".tab": InputFormat.tsv,
    ".parquet": InputFormat.parquet,
    ".pq": InputFormat.parquet,
}

# Vector files: what embedcli writes and reads back, by suffix.
VECTOR_SUFFIXES = {
    ".parquet": OutputFormat.parquet,
    ".pq": OutputFormat.parquet,
    ".npy": OutputFormat.npy,
    ".arrows": OutputFormat.arrows,
    ".arrow": OutputFormat.arrow,
    ".feather": OutputFormat.arrow,
    ".ipc": OutputFormat.arrow,
    ".jsonl": OutputFormat.jsonl,
    ".ndjson": OutputFormat.jsonl,
}


def data_suffix(path: str) -> str:
    """The suffix that names the content, looking through a `.gz`: `a.csv.gz` -> `.csv`."""
    suffixes = [s.lower() for s in PurePath(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def input_format_for(path: str, override: InputFormat | None = None) -> InputFormat:
    """The text-input format of `path`: the override, else its suffix, else one item per line."""
    if override is not None:
        return override
    return _INPUT_SUFFIXES.get(data_suffix(path), InputFormat.txt)


def output_format_for(path: str, override: OutputFormat | None = None) -> OutputFormat:
    """The vector-output format of `path`, from `override` or the suffix; unknown suffixes are a usage error."""
    if override is not None:
        return override
    suffix = data_suffix(path)
    try:
        return VECTOR_SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(VECTOR_SUFFIXES))
        raise UsageError(
            f"cannot tell the output format of '{path}' from its suffix",
            hint=f"use one of {known}, or pass --format",
        ) from None
