"""`embedcli reduce`: not built yet."""

from __future__ import annotations

from embedcli.errors import EmbedcliError


def reduce() -> None:
    """Not built yet."""
    raise EmbedcliError("'reduce' is not built yet")
