"""Human output on stderr: errors, warnings, summaries and progress bars. stdout is for data alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from rich.console import Console
from rich.markup import escape


def plain_wanted() -> bool:
    """True when output must carry no colour, bold or other style: NO_COLOR set (https://no-color.org) or
    --no-color given (which sets it)."""
    return os.environ.get("NO_COLOR", "") != ""


def make_console(**options: Any) -> Console:
    """A rich console that honours plain_wanted() fully: rich's own NO_COLOR handling drops colours but keeps
    bold, dim and underline; no colour system at all renders text without any style."""
    return Console(color_system=None if plain_wanted() else "auto", **options)


stderr = make_console(stderr=True, highlight=False, soft_wrap=True)


def use_plain_output() -> None:
    """--no-color: from now on no style anywhere, on stderr or in consoles made later (tables on stdout)."""
    os.environ["NO_COLOR"] = "1"
    # `stderr` is imported by name across the CLI, so it is changed in place; rich has no public setter, and a
    # console without a colour system renders every segment as plain text.
    stderr._color_system = None


# Control characters (C0, DEL, C1) in user data would drive the terminal (clear it, retitle it, move the cursor):
# they are shown as Python escapes instead. Data written to stdout as JSONL/CSV/Parquet is never touched.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_VISIBLE = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}


def visible(text: str) -> str:
    """`text` with every control character (C0, DEL, C1: ESC included) written as a visible escape, e.g. \\x1b."""
    return text.translate(_VISIBLE)


def error(message: str, hint: str | None = None) -> None:
    """One line (two with a hint) on stderr. User data in the message is never read as markup."""
    stderr.print(f"[bold red]error:[/] {escape(visible(message))}")
    if hint:
        stderr.print(f"[dim]hint:[/] {escape(visible(hint))}")


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(visible(message))}")


def show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """`warnings.showwarning` for the CLI: one clean line, not the source file and line a library warned from."""
    warn(f"{message}")


def info(message: str) -> None:
    stderr.print(escape(visible(message)))


def interrupted() -> None:
    """The one line a run stopped by Ctrl-C or SIGTERM leaves on stderr."""
    with suppress(Exception):  # stderr itself may be gone
        stderr.print("interrupted")


def stdin_is_terminal() -> bool:
    return sys.stdin is None or sys.stdin.isatty()


@contextmanager
def progress_bar(
    description: str, total: int | None, enabled: bool, waiting: str | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, shown only on a terminal. Yields update(done_units, items).

    With `waiting` (e.g. "loading model …"), that is the description until the first update, and no count is shown
    before it: a slow start reads as what it is, not as "0 items".
    """
    if not enabled or not stderr.is_terminal:
        yield lambda done, items: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[items]}")]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()] if total else [TimeElapsedColumn()]
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(waiting or description, total=total, items="" if waiting else "0 items")

        def update(done: int, items: int) -> None:
            progress.update(task, completed=done, items=f"{items:,} items", description=description)

        yield update


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
