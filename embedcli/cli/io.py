"""Where a command reads from and writes to: the checks Typer cannot make on inputs and outputs."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from embedcli.cli.console import stdin_is_terminal
from embedcli.errors import UsageError
from embedcli.formats import STDIO, Kind, OutputFormat
from embedcli.formats.targets import resolve_output as resolve_target


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


def resolve_output(
    output: str | None, fmt: OutputFormat | None, inputs: Sequence[str | None]
) -> tuple[str | None, OutputFormat]:
    """The output target (None: stdout) and its format, refusing binary data on a terminal."""
    target = resolve_target(
        output,
        Kind.vectors,
        fmt.value if fmt else None,
        stdout_is_terminal=sys.stdout.isatty(),
        on_terminal=OutputFormat.jsonl.value,
        in_pipe=OutputFormat.arrows.value,
        protected=inputs,
    )
    return target.path, OutputFormat(target.format)
