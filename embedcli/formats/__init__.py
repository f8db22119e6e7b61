"""Files and streams: the one suffix registry for every kind of file embedcli reads or writes, and the format enums
the CLI shows as choices. Light on purpose (no numpy): `--help` imports it.

Readers live in `vector_files`, `vector_batches`, `text_inputs`, `word_vectors`; writers in `outputs`, `hits`;
`targets.resolve_output` is the one way out (suffix, `-`, terminal refusal, protected paths).
"""

from __future__ import annotations

from dataclasses import dataclass
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


class Quoting(str, Enum):
    """How CSV/TSV fields may be quoted: `minimal` (RFC 4180: "a, b" and "" inside quotes) or `none` (quotes are
    ordinary characters; a field cannot hold the delimiter or a newline). CSV defaults to minimal, TSV to none, as
    the TSV convention has no quoting and its files often hold lone quotes inside fields (STS-B)."""

    none = "none"
    minimal = "minimal"


# A line longer than this is refused (naming file and line) before it is held whole: text models read a few
# hundred tokens, and one runaway line (a minified file, a binary blob) must not take gigabytes.
DEFAULT_MAX_LINE_BYTES = 16 << 20


class VectorFormat(str, Enum):
    """Formats of vector files. `arrows` is an Arrow IPC stream (pipe-friendly), `arrow` an Arrow IPC file."""

    parquet = "parquet"
    npy = "npy"
    arrows = "arrows"
    arrow = "arrow"
    jsonl = "jsonl"
    lance = "lance"  # a store (a folder): written by `embed` incrementally, read by every command

    @property
    def is_binary(self) -> bool:
        return self is not VectorFormat.jsonl


# Written as `OutputFormat` by every command that takes --format for vectors.
OutputFormat = VectorFormat


class HitFormat(str, Enum):
    """How hits are written: a table on a terminal, JSON Lines into a pipe, or a file by its suffix."""

    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class WordVectorFormat(str, Enum):
    """Formats `train` writes word vectors in."""

    binary = "bin"  # word2vec binary; FastText: Facebook .bin with subwords
    text = "txt"  # word2vec text (also .vec)
    glove = "glove"  # GloVe text: no header line (train --algorithm glove writes .txt so)
    parquet = "parquet"
    npy = "npy"


class PlotFormat(str, Enum):
    """Formats of maps: images, vector drawings, and one interactive page."""

    png = "png"
    svg = "svg"
    pdf = "pdf"
    html = "html"


class IndexPrecision(str, Enum):
    """How an index file's graph stores vectors (`embedcli index --precision`); b1 is packed bits (hamming)."""

    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    i8 = "i8"
    b1 = "b1"


class Kind(str, Enum):
    """What a file holds; the registry maps each kind's suffixes to its formats."""

    text_input = "text input"
    vectors = "vectors"
    hits = "hits"
    word_vectors = "word vectors"
    reducer = "reducer"
    plot = "plot"
    index_file = "index"  # not `index`: that is str.index


@dataclass(frozen=True)
class FileType:
    """One format of one kind: its suffixes, whether it is binary (refused on a terminal), and whether it can
    go to stdout at all (NPY word vectors are two files; a reducer must be a file)."""

    kind: Kind
    format: str
    suffixes: tuple[str, ...]
    binary: bool = True
    to_stdout: bool = True


REGISTRY: tuple[FileType, ...] = (
    FileType(Kind.text_input, "txt", (".txt", ".text"), binary=False),
    FileType(Kind.text_input, "jsonl", (".jsonl", ".ndjson", ".json"), binary=False),
    FileType(Kind.text_input, "csv", (".csv",), binary=False),
    FileType(Kind.text_input, "tsv", (".tsv", ".tab"), binary=False),
    FileType(Kind.text_input, "parquet", (".parquet", ".pq")),
    FileType(Kind.vectors, "parquet", (".parquet", ".pq")),
    FileType(Kind.vectors, "npy", (".npy",)),
    FileType(Kind.vectors, "arrows", (".arrows",)),
    FileType(Kind.vectors, "arrow", (".arrow", ".feather", ".ipc")),
    FileType(Kind.vectors, "jsonl", (".jsonl", ".ndjson"), binary=False),
    FileType(Kind.vectors, "lance", (".lance",), to_stdout=False),
    FileType(Kind.hits, "jsonl", (".jsonl", ".ndjson"), binary=False),
    FileType(Kind.hits, "csv", (".csv",), binary=False),
    FileType(Kind.hits, "parquet", (".parquet", ".pq")),
    FileType(Kind.hits, "table", (), binary=False),
    FileType(Kind.word_vectors, "bin", (".bin",)),
    FileType(Kind.word_vectors, "txt", (".txt", ".vec"), binary=False),
    FileType(Kind.word_vectors, "glove", (), binary=False),  # .txt by --algorithm glove, or --format glove
    FileType(Kind.word_vectors, "parquet", (".parquet", ".pq")),
    FileType(Kind.word_vectors, "npy", (".npy",), to_stdout=False),
    FileType(Kind.reducer, "npz", (".npz",), to_stdout=False),
    FileType(Kind.reducer, "safetensors", (".safetensors",), to_stdout=False),
    FileType(Kind.reducer, "pickle", (".pkl", ".pickle"), to_stdout=False),
    FileType(Kind.plot, "png", (".png",)),
    FileType(Kind.plot, "svg", (".svg",), binary=False),
    FileType(Kind.plot, "pdf", (".pdf",)),
    FileType(Kind.plot, "html", (".html", ".htm"), binary=False),
    FileType(Kind.index_file, "index", (".index",), to_stdout=False),
)

# What the "cannot tell the format" message calls each kind, and the kinds whose commands take --format.
_NOUNS = {Kind.vectors: "output", Kind.hits: "output", Kind.word_vectors: "vector"}
_HAS_FORMAT_OPTION = (Kind.vectors, Kind.hits, Kind.word_vectors)


COMPRESSION_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".zst", ".zstd"})


def data_suffix(path: str) -> str:
    """The suffix that names the content, looking through a compression suffix: `a.csv.gz` -> `.csv`,
    `a.jsonl.zst` -> `.jsonl` (the data itself is decompressed by its magic bytes, see formats.sources)."""
    suffixes = [s.lower() for s in PurePath(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def file_type(kind: Kind, fmt: str) -> FileType:
    """The registry entry of `fmt` for `kind`. Raises KeyError for a pair the registry does not hold."""
    for entry in REGISTRY:
        if entry.kind is kind and entry.format == fmt:
            return entry
    raise KeyError((kind, fmt))


def suffixes_of(kind: Kind) -> dict[str, str]:
    """Every suffix of `kind` and the format it names."""
    return {suffix: e.format for e in REGISTRY if e.kind is kind for suffix in e.suffixes}


def format_of(path: str, kind: Kind) -> str | None:
    """The format `path`'s suffix names for `kind`, or None."""
    return suffixes_of(kind).get(data_suffix(path))


def format_for(path: str, kind: Kind) -> str:
    """The format `path`'s suffix names for `kind`; an unknown suffix is the one usage error naming the choices."""
    fmt = format_of(path, kind)
    if fmt is None:
        known = ", ".join(suffixes_of(kind))
        noun = _NOUNS.get(kind, kind.value)
        or_option = ", or pass --format" if kind in _HAS_FORMAT_OPTION else ""
        raise UsageError(
            f"cannot tell the {noun} format of '{path}' from its suffix", hint=f"use one of {known}{or_option}"
        )
    return fmt


# Vector files: what embedcli writes and reads back, by suffix.
VECTOR_SUFFIXES = {suffix: VectorFormat(fmt) for suffix, fmt in suffixes_of(Kind.vectors).items()}


def input_format_for(path: str, override: InputFormat | None = None) -> InputFormat:
    """The text-input format of `path`: the override, else its suffix, else one item per line."""
    if override is not None:
        return override
    return InputFormat(format_of(path, Kind.text_input) or InputFormat.txt.value)


def output_format_for(path: str, override: VectorFormat | None = None) -> VectorFormat:
    """The vector-output format of `path`, from `override` or the suffix; unknown suffixes are a usage error."""
    if override is not None:
        return override
    return VectorFormat(format_for(path, Kind.vectors))
