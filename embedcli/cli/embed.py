"""`embedcli embed`: texts in, vectors out."""

from __future__ import annotations

import os
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from embedcli.backends.base import BackendOptions, Device, Modality
from embedcli.backends.onnx import Quantize
from embedcli.cli import embed_engine as eng
from embedcli.cli import options as opt
from embedcli.cli.console import info, plural, progress_bar, visible
from embedcli.cli.io import resolve_inputs, resolve_output
from embedcli.errors import UsageError
from embedcli.formats import InputFormat, OutputFormat, input_format_for
from embedcli.precision import Precision

if TYPE_CHECKING:
    from embedcli.embed.run import EmbedOutcome


class OnError(str, Enum):
    stop = "stop"
    skip = "skip"


class PoolChoice(str, Enum):  # embed.chunking.Pool, named here so --help loads no library
    mean = "mean"
    max = "max"
    first = "first"


EPILOG = """\
Examples:

  embedcli embed docs.txt -o vectors.parquet

  cat docs.txt | embedcli embed > vectors.arrows

  embedcli embed data.jsonl --text-field body --id-field doc_id -o v.npy

  embedcli embed export.json --text-field meta.body --id-field meta.id -o v.parquet

  jq -c '.[]' export.json | embedcli embed --id-field id --text-field body -o v.parquet

  embedcli embed notes/ -o notes.parquet

  embedcli embed notes/ --glob '**/*.md' -o notes.parquet

  embedcli embed corpus.txt.zst -o v.parquet

  embedcli embed book.txt --chunk 200 --overlap 20 -o chunks.parquet

  embedcli embed notes/ --chunk 200 --pool mean -o docs.parquet

  embedcli embed table.csv --text-column text -o v.parquet

  embedcli embed items.parquet --text-column title --keep-columns genre,url -o v.parquet

  embedcli embed speeches/ --encoding auto -o speeches.parquet

  embedcli embed sts-test.csv --input-format tsv --no-header --text-column 6 -o v.parquet

  embedcli embed -t "I love deep learning" --format jsonl

  embedcli embed docs.txt --backend transformers --model path/to/hf/model -o v.parquet

  embedcli embed docs.txt --backend sentence-transformers -o v.parquet

  embedcli embed docs.txt --backend onnx --quantize int8 -o v.parquet


  embedcli embed docs.txt --model word2vec.bin -o v.parquet

  embedcli embed photos/ --model ./clip-vit-b-32 -o photos.parquet

  find shots -name '*.png' | embedcli embed --files - --model ./clip-vit-b-32 -o shots.parquet

  embedcli embed clips/*.wav --model ./hubert-base --layer 6 -o speech.parquet

  embedcli embed docs.txt --backend transformers --model ./bert-base --layers 1,-1 -o v.parquet

  embedcli embed s3://bucket/corpus/ -o s3://bucket/vectors.parquet

  embedcli embed corpus/*.parquet --text-column text --id-column id -o vectors/ --engine ray

  embedcli embed s3://bucket/corpus/ -o s3://bucket/vectors/ --engine ray --ray-address auto
"""

Media = "Images and sounds"


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
    header: opt.HeaderOpt = True,
    quoting: opt.QuotingOpt = None,
    keep_columns: Annotated[
        str | None,
        typer.Option(
            "--keep-columns",
            metavar="A,B",
            help="Carry these input fields/columns (JSON, CSV/TSV, Parquet) into the output beside each vector "
            "(a .lance store too; with --chunk, onto each chunk of the document).",
            show_default=False,
        ),
    ] = None,
    glob: Annotated[
        str | None,
        typer.Option(
            "--glob",
            help="In folders, read the files this pattern matches (e.g. '**/*.md'); default: .txt .md .rst .html.",
            show_default=False,
        ),
    ] = None,
    max_line_bytes: opt.MaxLineBytesOpt = opt.DEFAULT_LINE_BYTES,
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
    chunk: Annotated[
        int | None,
        typer.Option(
            "--chunk",
            metavar="TOKENS",
            min=1,
            help="Cut each document (a whole .txt file, a file of a folder, a record) into chunks of at most this "
            "many model tokens, at word boundaries; one row per chunk (doc_id, chunk, start, end).",
            show_default=False,
        ),
    ] = None,
    overlap: Annotated[
        int, typer.Option("--overlap", metavar="TOKENS", min=0, help="Tokens shared by consecutive chunks.")
    ] = 0,
    pool: Annotated[
        PoolChoice | None,
        typer.Option(
            "--pool", help="One vector per document from its chunks' vectors (needs --chunk).", show_default=False
        ),
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
    files: Annotated[
        str | None,
        typer.Option(
            "--files",
            metavar="FILE",
            help="Read the paths of image/audio files from FILE ('-': stdin), one a line.",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    modality: Annotated[
        Modality | None,
        typer.Option(
            "--modality",
            help="Read the inputs as this (default: by content).",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    image_column: Annotated[
        str | None,
        typer.Option(
            "--image-column",
            metavar="COL",
            help="Parquet/JSONL column of image paths or bytes.",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    audio_column: Annotated[
        str | None,
        typer.Option(
            "--audio-column",
            metavar="COL",
            help="Parquet/JSONL column of audio paths or bytes.",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    layer: Annotated[
        int | None,
        typer.Option(
            "--layer", help="Pool this hidden state (negative: from the end; 0: the embeddings).", show_default=False
        ),
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option("--layers", metavar="A,B|A:B", help="Average these hidden states, then pool.", show_default=False),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option("--on-error", help="A bad image/audio file: stop, or skip and count it.", rich_help_panel=Media),
    ] = OnError.stop,
    rejects: Annotated[
        str | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="List the skipped files here (file, tab, reason).",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds",
            metavar="S",
            min=0.0,
            help="Refuse clips longer than this.",
            rich_help_panel=Media,
            show_default=False,
        ),
    ] = None,
    quiet: opt.QuietOpt = False,
    engine: eng.EngineOpt = eng.Engine.local,
    ray_address: eng.RayAddressOpt = None,
    workers: eng.WorkersOpt = None,
    cpus_per_worker: eng.CpusPerWorkerOpt = 1.0,
    gpus_per_worker: eng.GpusPerWorkerOpt = 0.0,
    shard_rows: eng.ShardRowsOpt = eng.DEFAULT_SHARD_ROWS,
) -> None:
    """Turn texts, images or sounds into vectors: one text per line, a JSON/JSONL/CSV/TSV/Parquet field, one
    document per file of a folder, or image and audio files (folders, globs, --files -), judged by content.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    # The command's library loads here, not with the module: `embedcli --help` imports every command module.
    from embedcli.backends.layers import parse_layers
    from embedcli.embed.chunking import ChunkOptions, Pool
    from embedcli.embed.into_store import StoreOptions
    from embedcli.embed.media import MediaOptions
    from embedcli.embed.pipeline import EmbedSettings
    from embedcli.embed.run import EmbedJob, EmbedRequest
    from embedcli.formats.sources import Decoding
    from embedcli.formats.text_inputs import FieldSpec

    if layer is not None and layers is not None:
        raise UsageError("give --layer or --layers, not both")
    if chunk is None and (pool is not None or overlap):
        raise UsageError("--overlap and --pool apply to chunks", hint="add --chunk TOKENS")
    chosen_layers = layer if layer is not None else layers
    selection = parse_layers(chosen_layers) if chosen_layers is not None else None
    paths = resolve_inputs(inputs, has_literal=bool(text) or files is not None)
    ray = eng.ray_options(engine, ray_address, workers, cpus_per_worker, gpus_per_worker, shard_rows)
    # The model is read too: a local model file or folder is never an output (a hub id or package name is no path).
    reads = [*paths, model if model and os.path.exists(model) else None]
    target, out_format = eng.ray_target(output, fmt) if ray else resolve_output(output, fmt, reads)
    request = EmbedRequest(
        inputs=paths,
        target=target,
        output_format=out_format,
        texts=list(text or []),
        decoding=Decoding(encoding, errors, max_line_bytes),
        input_format=input_format,
        fields=FieldSpec(text_field, id_field, text_column, id_column, header, quoting, _names(keep_columns)),
        glob=glob,
        model=model,
        backend=backend,
        backend_options=BackendOptions(
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            prompt=prompt,
            extra={"quantize": quantize.value, "threads": threads, "layers": selection},
            announce=None if quiet else info,
        ),
        settings=EmbedSettings(batch_size=batch_size, normalize=normalize, dim=dim, precision=precision),
        keep_text=keep_text,
        store=StoreOptions(prune=prune, rebuild=rebuild),
        media=MediaOptions(
            modality=modality,
            files_from=files,
            image_column=image_column,
            audio_column=audio_column,
            id_column=id_column,
            skip_bad=on_error is OnError.skip,
            rejects=rejects,
            max_seconds=max_seconds,
        ),
        ray=ray,
        chunking=ChunkOptions(chunk, overlap, Pool(pool.value) if pool else None) if chunk is not None else None,
    )
    if (prune or rebuild) and out_format is not OutputFormat.lance:
        raise UsageError("--prune and --rebuild apply to a store: write to -o NAME.lance")
    job = EmbedJob(request)
    with progress_bar("embedding", job.total_bytes, enabled=not quiet, waiting="loading model …") as update:
        outcome = job.run(update)
    if not quiet:
        _summarize(outcome) if outcome.store is None else _summarize_store(outcome, target or "", paths)


def _names(listed: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (listed or "").split(",") if name.strip())


def _encodings(told: dict[str, str]) -> str:
    """`--encoding auto`'s choices: one input's encoding, or each encoding with its count, naming the inputs of all
    but the most common (up to 3 each)."""
    by_encoding: dict[str, list[str]] = {}
    for name, encoding in told.items():
        by_encoding.setdefault(encoding, []).append(name)
    ranked = sorted(by_encoding.items(), key=lambda item: (-len(item[1]), item[0]))
    if len(told) == 1:
        return f"read as {ranked[0][0]}"
    parts = []
    for rank, (encoding, names) in enumerate(ranked):
        named = "" if rank == 0 else f" ({', '.join(map(visible, names[:3]))}{' …' if len(names) > 3 else ''})"
        parts.append(f"{len(names):,} {encoding}{named}")
    return "encodings told: " + ", ".join(parts)


def _summarize_store(outcome: EmbedOutcome, path: str, inputs: list[str]) -> None:
    assert outcome.store is not None
    s, stored = outcome.store.summary, outcome.store
    info(
        f"{s.new:,} new, {s.changed:,} changed, {s.unchanged:,} unchanged, {s.deleted:,} deleted; "
        f"{s.embedded:,} embedded in {s.seconds:.1f} s · {path}: {stored.rows:,} rows, version {stored.version}"
    )
    plain = any(p == "-" or input_format_for(p) is InputFormat.txt for p in inputs)
    if outcome.modality == "text" and plain and outcome.chunks is None:  # chunks are keyed DOC#N, not by line
        info("note: plain-text lines are keyed file:line, so inserting a line changes the ids after it")


def _summarize(outcome: EmbedOutcome) -> None:
    report, meta, skipped = outcome.report, outcome.provenance, outcome.skipped_blank
    noun = {"image": "image", "audio": "clip"}.get(outcome.modality, "text")
    chunks = outcome.chunks
    if chunks is not None:
        noun = "document" if chunks.pooled else "chunk"
    parts = [
        f"embedded {plural(report.count, noun)} in {report.seconds:.1f} s ({report.rate:,.0f} {noun}s/s)",
        f"{outcome.dimension}-d {meta.precision}",
        f"{meta.backend} {meta.model}",
    ]
    if skipped:
        parts.append(f"{plural(skipped, 'blank line')} skipped")
    if outcome.replaced:
        parts.append(f"{plural(outcome.replaced, 'invalid byte sequence')} replaced with U+FFFD")
    if outcome.rejected:
        parts.append(f"{plural(len(outcome.rejected), 'bad file')} skipped")
    if outcome.skipped_files:
        parts.append(f"{plural(outcome.skipped_files, 'other file')} in folders left out")
    if outcome.encodings:
        parts.append(_encodings(outcome.encodings))
    if chunks is not None:
        parts.append(f"{plural(chunks.chunks, 'chunk')} of {plural(chunks.documents, 'document')}")
        if chunks.cut_words:
            parts.append(f"{plural(chunks.cut_words, 'chunk')} cut inside a word longer than a chunk")
    if report.truncated:
        hint = "" if chunks is not None else " (--chunk TOKENS embeds all of a long text)"
        parts.append(f"{plural(report.truncated, 'text')} truncated to {meta.max_length} tokens{hint}")
    if outcome.shards is not None:
        shards = outcome.shards
        parts.append(
            f"{shards.computed:,} of {plural(shards.total, 'shard')} computed on {plural(shards.workers, 'worker')}"
        )
        parts.append(f"Ray start-up {shards.startup_seconds:.1f} s")
    info(" · ".join(parts + report.notes))
