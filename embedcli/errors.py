"""The errors embedcli raises. Each carries its exit status and an optional hint.

Library code raises these; `embedcli.cli` turns them into one line on stderr and an exit status.
Exit statuses: 0 success, 1 runtime failure, 2 usage error, 130 interrupted, 141 output pipe closed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141


class EmbedcliError(Exception):
    """A failure a user can understand and act on: printed as one line, never as a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(EmbedcliError):
    """The command line asks for something impossible: bad option values, missing files, unknown names."""

    exit_code = EXIT_USAGE


class InputError(EmbedcliError):
    """An input exists but its content cannot be used (bad encoding, malformed rows, missing fields)."""


class ModelError(EmbedcliError):
    """A model could not be found, loaded or run."""


class PipeClosed(Exception):
    """The reader of stdout went away (`| head`): stop quietly."""
