"""`embedcli similar`: not built yet."""

from __future__ import annotations

from embedcli.errors import EmbedcliError


def similar() -> None:
    """Not built yet."""
    raise EmbedcliError("'similar' is not built yet")
