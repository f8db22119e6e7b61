"""Human output on stderr: errors, warnings, summaries and progress bars. stdout is for data alone."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from rich.console import Console
from rich.markup import escape

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """One line (two with a hint) on stderr. User data in the message is never read as markup."""
    stderr.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        stderr.print(f"[dim]hint:[/] {escape(hint)}")


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}")


def info(message: str) -> None:
    stderr.print(escape(message))


def interrupted() -> None:
    """The one line a run stopped by Ctrl-C or SIGTERM leaves on stderr."""
    with suppress(Exception):  # stderr itself may be gone
        stderr.print("interrupted")


def stdin_is_terminal() -> bool:
    return sys.stdin is None or sys.stdin.isatty()


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, shown only on a terminal. Yields update(done_units, items)."""
    if not enabled or not stderr.is_terminal:
        yield lambda done, items: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[items]:,} items"),
    ]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()] if total else [TimeElapsedColumn()]
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=total, items=0)
        yield lambda done, items: progress.update(task, completed=done, items=items)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
