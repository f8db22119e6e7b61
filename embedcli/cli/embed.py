"""`embedcli embed`: texts in, vectors out."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.backends.base import BackendOptions, Device
from embedcli.backends.onnx.runtime import Quantize
from embedcli.cli import options as opt
from embedcli.cli.console import info, plural, progress_bar
from embedcli.cli.io import resolve_inputs, resolve_output
from embedcli.embed.into_store import StoreOptions
from embedcli.embed.pipeline import EmbedSettings
from embedcli.embed.run import EmbedJob, EmbedOutcome, EmbedRequest
from embedcli.errors import UsageError
from embedcli.formats import InputFormat, OutputFormat, input_format_for
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec
from embedcli.precision import Precision

EPILOG = """\
Examples:

  embedcli embed docs.txt -o vectors.parquet

  cat docs.txt | embedcli embed > vectors.arrows

  embedcli embed data.jsonl --text-field body --id-field doc_id -o v.npy

  embedcli embed table.csv --text-column text -o v.parquet

  embedcli embed -t "I love deep learning" --format jsonl

  embedcli embed docs.txt --backend transformers --model path/to/hf/model -o v.parquet

  embedcli embed docs.txt --backend sentence-transformers -o v.parquet

  embedcli embed docs.txt --backend onnx --quantize int8 -o v.parquet


  embedcli embed docs.txt --model word2vec.bin -o v.parquet
"""


def embed(
    inputs: opt.InputsArg = None,
    text: Annotated[
        list[str] | None,
        typer.Option("--text", "-t", help="A literal text to embed (repeatable).", show_default=False),
    ] = None,
    output: opt.OutputOpt = None,
    fmt: opt.FormatOpt = None,
    input_format: opt.InputFormatOpt = None,
    text_field: opt.TextFieldOpt = "text",
    id_field: opt.IdFieldOpt = None,
    text_column: opt.TextColumnOpt = "text",
    id_column: opt.IdColumnOpt = None,
    encoding: opt.EncodingOpt = "utf-8",
    errors: opt.ErrorsOpt = "strict",
    model: opt.ModelOpt = None,
    backend: opt.BackendOpt = None,
    batch_size: opt.BatchSizeOpt = 32,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors (after --dim).")
    ] = False,
    device: opt.DeviceOpt = Device.auto,
    quantize: opt.QuantizeOpt = Quantize.none,
    threads: opt.ThreadsOpt = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", min=1, help="Truncate texts to this many tokens.")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Text put before every input (e.g. 'query: ').")
    ] = None,
    dim: Annotated[
        int | None,
        typer.Option("--dim", min=1, help="Keep the first DIM dimensions (Matryoshka truncation)."),
    ] = None,
    precision: opt.PrecisionOpt = Precision.float32,
    keep_text: Annotated[bool, typer.Option("--keep-text/--no-text", help="Store each text beside its vector.")] = True,
    prune: Annotated[
        bool, typer.Option("--prune", help="Store (.lance): delete the ids this run's inputs no longer hold.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Store (.lance): embed everything again, even with new settings.")
    ] = False,
    quiet: opt.QuietOpt = False,
) -> None:
    """Turn texts into vectors: one text per line, or a JSONL/CSV/TSV/Parquet field, from files or stdin.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    paths = resolve_inputs(inputs, has_literal=bool(text))
    target, out_format = resolve_output(output, fmt, paths)
    request = EmbedRequest(
        inputs=paths,
        target=target,
        output_format=out_format,
        texts=list(text or []),
        decoding=Decoding(encoding, errors),
        input_format=input_format,
        fields=FieldSpec(text_field, id_field, text_column, id_column),
        model=model,
        backend=backend,
        backend_options=BackendOptions(
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            prompt=prompt,
            extra={"quantize": quantize.value, "threads": threads},
            announce=None if quiet else info,
        ),
        settings=EmbedSettings(batch_size=batch_size, normalize=normalize, dim=dim, precision=precision),
        keep_text=keep_text,
        store=StoreOptions(prune=prune, rebuild=rebuild),
    )
    if (prune or rebuild) and out_format is not OutputFormat.lance:
        raise UsageError("--prune and --rebuild apply to a store: write to -o NAME.lance")
    job = EmbedJob(request)
    with progress_bar("embedding", job.total_bytes, enabled=not quiet) as update:
        outcome = job.run(update)
    if not quiet:
        _summarize(outcome) if outcome.store is None else _summarize_store(outcome, target or "", paths)


def _summarize_store(outcome: EmbedOutcome, path: str, inputs: list[str]) -> None:
    assert outcome.store is not None
    s, stored = outcome.store.summary, outcome.store
    info(
        f"{s.new:,} new, {s.changed:,} changed, {s.unchanged:,} unchanged, {s.deleted:,} deleted; "
        f"{s.embedded:,} embedded in {s.seconds:.1f} s · {path}: {stored.rows:,} rows, version {stored.version}"
    )
    if any(p == "-" or input_format_for(p) is InputFormat.txt for p in inputs):
        info("note: plain-text lines are keyed file:line, so inserting a line changes the ids after it")


def _summarize(outcome: EmbedOutcome) -> None:
    report, meta, skipped = outcome.report, outcome.provenance, outcome.skipped_blank
    parts = [
        f"embedded {plural(report.count, 'text')} in {report.seconds:.1f} s ({report.rate:,.0f} texts/s)",
        f"{outcome.dimension}-d {meta.precision}",
        f"{meta.backend} {meta.model}",
    ]
    if skipped:
        parts.append(f"{plural(skipped, 'blank line')} skipped")
    if report.truncated:
        parts.append(f"{plural(report.truncated, 'text')} truncated to {meta.max_length} tokens")
    info(" · ".join(parts + report.notes))
