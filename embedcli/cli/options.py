"""Options several commands share, declared once with their help text and environment variables."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from embedcli.backends.base import Device
from embedcli.backends.onnx import Quantize
from embedcli.formats import DEFAULT_MAX_LINE_BYTES, InputFormat, OutputFormat, Quoting
from embedcli.precision import Precision

StoreVersionOpt = Annotated[
    int | None,
    typer.Option("--version", min=1, help="Read this older version of a store (.lance).", show_default=False),
]
InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Input files ('-' for stdin). With none, stdin is read when it is not a terminal.",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file; the format follows the suffix. Default: stdout.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format. Default: by -o suffix; to stdout an Arrow stream "
        "(arrows) into a pipe, JSON Lines on a terminal.",
        show_default=False,
    ),
]
InputFormatOpt = Annotated[
    InputFormat | None,
    typer.Option(
        "--input-format",
        help="Input format, overriding the suffix (.txt .jsonl .csv .tsv .parquet, each also .gz).",
        show_default=False,
    ),
]
TextFieldOpt = Annotated[
    str, typer.Option("--text-field", help="JSON/JSONL field holding the text; dotted for nested ones: meta.body.")
]
IdFieldOpt = Annotated[
    str | None, typer.Option("--id-field", help="JSON/JSONL field holding the id; dotted for nested ones: meta.id.")
]
TextColumnOpt = Annotated[
    str,
    typer.Option("--text-column", help="CSV/TSV/Parquet column holding the text: a header name or a number from 1."),
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option("--id-column", help="CSV/TSV/Parquet column holding the id: a header name or a number from 1."),
]
HeaderOpt = Annotated[
    bool,
    typer.Option(
        "--header/--no-header", help="CSV/TSV: the first row names the columns (--no-header: it is data; use numbers)."
    ),
]
QuotingOpt = Annotated[
    Quoting | None,
    typer.Option(
        "--quoting",
        help='CSV/TSV quoting: minimal ("a, b" fields) or none (quotes are plain characters). '
        "Default: minimal for CSV, none for TSV.",
        show_default=False,
    ),
]
MaxLineBytesOpt = Annotated[
    int,
    typer.Option(
        "--max-line-bytes",
        min=1,
        help="Refuse a line longer than this (naming file and line) instead of reading it whole.",
    ),
]
DEFAULT_LINE_BYTES = DEFAULT_MAX_LINE_BYTES
EncodingOpt = Annotated[
    str, typer.Option("--encoding", help="Text encoding of the inputs; auto: told per file (named in the summary).")
]
ErrorsOpt = Annotated[
    str,
    typer.Option(
        "--errors",
        help="On invalid bytes: strict (fail, naming file and line), replace (with U+FFFD, counted), ignore.",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        envvar="EMBEDCLI_MODEL",
        show_default="all-MiniLM-L6-v2",
        help="Model: a name, a local model folder, or a word-vector file.",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        "-b",
        envvar="EMBEDCLI_BACKEND",
        show_default="auto",
        help="Backend: auto (the cached ONNX export where the model exports faithfully, else "
        "sentence-transformers), sentence-transformers, transformers, onnx, word-vectors (default for vector files).",
    ),
]
BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", min=1, envvar="EMBEDCLI_BATCH_SIZE", help="Texts per model call.")
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where the model runs.")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Stored precision of the vectors.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary on stderr.")]
QuantizeOpt = Annotated[
    Quantize,
    typer.Option("--quantize", help="onnx backend: int8 runs dynamically quantized weights (faster, cached too)."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads", min=1, envvar="EMBEDCLI_THREADS", show_default="all cores", help="onnx backend: CPU threads."
    ),
]
IndexEfOpt = Annotated[
    int | None,
    typer.Option(
        "--ef", min=1, help="Index search breadth: larger finds more true neighbours, slower.", show_default="tuned"
    ),
]


class ExactKernel(str, Enum):
    """Which exact-search kernel `similar` uses; every one returns the same hits and scores."""

    auto = "auto"
    bf16 = "bf16"
    int8 = "int8"
    float32 = "float32"


ExactKernelOpt = Annotated[
    ExactKernel,
    typer.Option(
        "--exact-kernel",
        envvar="EMBEDCLI_EXACT_KERNEL",
        help="Exact search kernel: auto (the fastest for this CPU and job, import included), bf16 (torch), "
        "int8 (onnxruntime), float32. Results are the same: low-precision scores only prune, exact ones rank.",
    ),
]
