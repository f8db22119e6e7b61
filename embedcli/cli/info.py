"""`embedcli info`: what a vector file or store holds."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from embedcli.cli import options as opt
from embedcli.cli.io import resolve_inputs

EPILOG = """\
Examples:

  embedcli info vectors.parquet

  embedcli info kb.lance

  embedcli info vectors.parquet --json | jq .provenance.model

  embedcli info kb.lance --version 3

  embedcli info vectors.index
"""


def info(
    source: Annotated[str | None, typer.Argument(help="Vector file, store or index file (.index); '-': stdin.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Everything as one JSON object on stdout.")] = False,
    version: opt.StoreVersionOpt = None,
) -> None:
    """Rows, dimension, precision and the whole provenance of a vector file; for a store also its versions.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    from embedcli.inspect.info import describe_file, is_index_file

    path = resolve_inputs([source] if source else None)[0]
    if is_index_file(path):
        _index_info(path, json_out)
        return
    facts = describe_file(path, version)
    if json_out:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(facts.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        return
    size = f", {facts.bytes / 1e6:,.1f} MB" if facts.bytes is not None else ""
    lines = [
        f"{facts.path}: {facts.format}, {facts.rows:,} rows × {facts.dimension} dims, {facts.precision}{size}",
        f"columns: {', '.join(['id', 'text'][: 1 + facts.has_text] + facts.columns)}"
        if facts.format != "lance"
        else f"columns: {', '.join(facts.columns)}",
    ]
    lines += [f"{key}: {value}" for key, value in facts.provenance.items() if key != "quantization_ranges"]
    for v in facts.versions:
        changes = ", ".join(
            f"{n:,} {what}"
            for n, what in ((v.inserted, "inserted"), (v.updated, "updated"), (v.deleted, "deleted"))
            if n
        )
        lines.append(f"version {v.number}  {v.time}  {v.rows:,} rows  {v.operation}{'  ' + changes if changes else ''}")
    sys.stdout.write("\n".join(lines) + "\n")


def _index_info(path: str, json_out: bool) -> None:
    from embedcli.inspect.info import describe_index
    from embedcli.search.ann_file import header_json

    header, size = describe_index(path)
    if json_out:
        import orjson

        data = {"path": path, "bytes": size, **header_json(header)}
        data.pop("held_rows")
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        return
    built = header.fingerprint
    lines = [
        f"{path}: index, {header.rows:,} rows × {header.dimension} dims, {size / 1e6:,.1f} MB",
        f"metric: {header.metric.value}",
        f"precision: {header.precision.value}",
        f"graph: HNSW, M {header.m}, ef_construction {header.ef_construction}, ef {header.ef} ({header.library})",
        f"corpus: {built.get('path') or '?'}"
        + (f" version {built['store_version']}" if built.get("store_version") else ""),
    ]
    for name, recall in (("held-out", header.held_out), ("in-corpus", header.in_corpus)):
        shown = ", ".join(f"ef {ef} {value:.3f}" for ef, value in sorted(recall.by_ef.items()))
        lines.append(f"recall@{recall.k} {name} ({recall.queries:,} queries): {shown}")
    sys.stdout.write("\n".join(lines) + "\n")
