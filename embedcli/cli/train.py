"""`embedcli train`: not built yet."""

from __future__ import annotations

from embedcli.errors import EmbedcliError


def train() -> None:
    """Not built yet."""
    raise EmbedcliError("'train' is not built yet")
