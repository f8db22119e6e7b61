"""The root command: wires the subcommands together and turns errors into exit statuses, in one place."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Annotated

import typer

from embedcli import __version__
from embedcli.cli import embed, index, info, inspect, models, reduce, similar, train
from embedcli.cli.console import error, interrupted, show_warning, use_plain_output
from embedcli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED, EmbedcliError, PipeClosed
from embedcli.formats.outputs import is_pipe_error, os_reason

HELP = """Embeddings from the shell: train, embed, search and reduce vectors, in files or Unix pipes.

Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
"""

EPILOG = """\
Examples:

  cat docs.txt | embedcli embed | embedcli similar - "query"

  embedcli embed docs.txt -o vectors.parquet

  embedcli train books/*.txt --sg --dim 200 -o words.bin

  embedcli similar words.bin --positive king --positive woman --negative man

  embedcli reduce vectors.parquet --dim 2 --plot map.png -o map.parquet

  embedcli embed -t "hello world" --backend onnx --format jsonl
"""

app = typer.Typer(
    name="embedcli",
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Each command module defines its function and an EPILOG of examples shown under its --help.
app.command(epilog=getattr(train, "EPILOG", None))(train.train)
app.command(epilog=embed.EPILOG)(embed.embed)
app.command(epilog=getattr(similar, "EPILOG", None))(similar.similar)
app.command(epilog=getattr(reduce, "EPILOG", None))(reduce.reduce)
app.command(epilog=index.EPILOG)(index.index)
app.command(epilog=inspect.EPILOG)(inspect.inspect)
app.command(epilog=info.EPILOG)(info.info)
app.command(epilog=models.EPILOG)(models.models)


def _version(value: bool) -> None:
    if value:
        print(f"embedcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain output: no colour or bold (as the NO_COLOR variable).")
    ] = False,
) -> None:
    if no_color:
        use_plain_output()


def _terminate(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C, so partial outputs are removed on the way out.
    raise KeyboardInterrupt


def main() -> None:
    """The console entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    warnings.showwarning = show_warning  # a library's RuntimeWarning is one line, not its source code
    try:
        result = app(prog_name="embedcli", standalone_mode=False)
    except EmbedcliError as exc:
        error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors found while parsing
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        interrupted()
        sys.exit(EXIT_INTERRUPTED)
    except (PipeClosed, OSError) as exc:
        if not is_pipe_error(exc):
            assert isinstance(exc, OSError)
            # What the OS refused (a full disk, a read-only folder, no permission): one line, never a traceback.
            error(_os_error_line(exc))
            sys.exit(EXIT_FAILURE)
        _silence_stdout()
        sys.exit(EXIT_PIPE_CLOSED)
    if result == EXIT_INTERRUPTED:  # Typer turns a KeyboardInterrupt inside a command into this status
        interrupted()
    sys.exit(result if isinstance(result, int) else 0)


def _os_error_line(exc: OSError) -> str:
    """'PATH: reason' for an OS error that names a file, else the reason alone."""
    reason = os_reason(exc)
    if exc.filename is None:
        return reason
    names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{names}: {reason}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot complain about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
