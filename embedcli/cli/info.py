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
"""


def info(
    source: Annotated[str | None, typer.Argument(help="Vector file or store ('-': stdin).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Everything as one JSON object on stdout.")] = False,
    version: opt.StoreVersionOpt = None,
) -> None:
    """Rows, dimension, precision and the whole provenance of a vector file; for a store also its versions.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    from embedcli.inspect.info import describe_file

    path = resolve_inputs([source] if source else None)[0]
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
