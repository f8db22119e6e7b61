"""The root command: wires the subcommands together and turns errors into exit statuses, in one place."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Annotated, Any

import typer

from embedcli import __version__
from embedcli.cli.lazy_group import LazyCommand, LazyGroup
from embedcli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED, EmbedcliError, PipeClosed

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

# The commands, in the order --help lists them: each is the function of that name in its module (with the module's
# EPILOG of examples under its --help), imported only when the command is run, completed or asked for its --help.
# The summary is what `embedcli --help` shows; a test checks it against the function's docstring.
COMMANDS = {
    "train": LazyCommand(
        "embedcli.cli.train",
        "Train word vectors (Word2Vec, FastText, GloVe), item vectors (--preset items) or document vectors (Doc2Vec).",
    ),
    "embed": LazyCommand(
        "embedcli.cli.embed",
        "Turn texts, images or sounds into vectors: one text per line, a JSON/JSONL/CSV/TSV/Parquet field, one "
        "document per file of a folder, or image and audio files (folders, globs, --files -), judged by content.",
    ),
    "similar": LazyCommand(
        "embedcli.cli.similar",
        "Find the nearest corpus rows of each query, exactly, best first; text queries use the corpus's model.",
    ),
    "reduce": LazyCommand(
        "embedcli.cli.reduce",
        "Reduce vectors to fewer dimensions: PCA, incremental PCA, SVD, random projection, UMAP, t-SNE, Matryoshka.",
    ),
    "index": LazyCommand(
        "embedcli.cli.index", "Build an HNSW index of a corpus and measure its recall@10 against exact search."
    ),
    "inspect": LazyCommand(
        "embedcli.cli.inspect",
        "Measure how the known limits of embeddings show up in these vectors, with plain-language verdicts.",
    ),
    "info": LazyCommand(
        "embedcli.cli.info",
        "Rows, dimension, precision and the whole provenance of a vector file; for a store also its versions.",
    ),
    "models": LazyCommand(
        "embedcli.cli.models", "List the shipped models and the cached ONNX exports (model, options, size, path)."
    ),
}


class Commands(LazyGroup):
    registry = COMMANDS


app = typer.Typer(
    name="embedcli",
    cls=Commands,
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
        from embedcli.cli.console import use_plain_output

        use_plain_output()


def _terminate(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C, so partial outputs are removed on the way out.
    raise KeyboardInterrupt


def main() -> None:
    """The console entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    warnings.showwarning = _show_warning  # a library's RuntimeWarning is one line, not its source code
    try:
        result = app(prog_name="embedcli", standalone_mode=False)
    except (EmbedcliError, typer.TyperException, typer.Abort, KeyboardInterrupt, PipeClosed, OSError) as exc:
        sys.exit(_exit_status(exc))
    if result == EXIT_INTERRUPTED:  # Typer turns a KeyboardInterrupt inside a command into this status
        sys.exit(_exit_status(KeyboardInterrupt()))
    sys.exit(result if isinstance(result, int) else 0)


def _exit_status(exc: BaseException) -> int:
    """Say on stderr in one line why the run ended, and return its exit status. The console (rich) loads here,
    not at start-up: a TAB completion never prints through it."""
    from embedcli.cli.console import error, interrupted
    from embedcli.formats.outputs import is_pipe_error

    if isinstance(exc, EmbedcliError):
        error(exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, typer.TyperException):  # usage errors found while parsing
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        interrupted()
        return EXIT_INTERRUPTED
    if not is_pipe_error(exc):
        assert isinstance(exc, OSError)
        # What the OS refused (a full disk, a read-only folder, no permission): one line, never a traceback.
        error(_os_error_line(exc))
        return EXIT_FAILURE
    _silence_stdout()
    return EXIT_PIPE_CLOSED


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """`warnings.showwarning` that loads the console only when a library does warn."""
    from embedcli.cli.console import show_warning

    show_warning(message, category, filename, lineno, file, line)


def _os_error_line(exc: OSError) -> str:
    """'PATH: reason' for an OS error that names a file, else the reason alone."""
    from embedcli.formats.outputs import os_reason

    reason = os_reason(exc)
    if exc.filename is None:
        return reason
    names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{names}: {reason}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot complain about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
