"""Where a command reads from and writes to: the checks Typer cannot make on inputs and outputs."""

from __future__ import annotations

import sys

from embedcli.cli.console import stdin_is_terminal
from embedcli.errors import UsageError
from embedcli.formats import STDIO, OutputFormat, output_format_for
from embedcli.formats.outputs import check_not_input, refuse_terminal


def resolve_inputs(inputs: list[str] | None, has_literal: bool = False) -> list[str]:
    """The input paths: those given, else stdin when it is not a terminal. Never waits on a terminal."""
    if inputs:
        if STDIO in inputs and stdin_is_terminal():
            raise UsageError("'-' reads stdin, but stdin is a terminal", hint="pipe data in, or name a file")
        return inputs
    if has_literal:
        return []
    if stdin_is_terminal():
        raise UsageError("no input: name a file, pass -t TEXT, or pipe data in")
    return [STDIO]


def resolve_output(output: str | None, fmt: OutputFormat | None, inputs: list[str]) -> tuple[str | None, OutputFormat]:
    """The output target (None: stdout) and its format, refusing binary data on a terminal."""
    if output is not None and output != STDIO:
        check_not_input(output, inputs)
        return output, output_format_for(output, fmt)
    if fmt is None:
        fmt = OutputFormat.jsonl if sys.stdout.isatty() else OutputFormat.arrows
    refuse_terminal(fmt)
    return None, fmt
