"""`embed --engine`: where a Ray run may write, and the Ray-only options refused by the local engine."""

from __future__ import annotations

import pytest

from embedcli.cli.embed_engine import Engine, ray_options, ray_target
from embedcli.errors import UsageError
from embedcli.formats import OutputFormat


def test_ray_refuses_stdout_and_local_refuses_ray_options():
    with pytest.raises(UsageError, match="stdout"):
        ray_target("-", None)
    with pytest.raises(UsageError, match="--engine ray"):
        ray_options(Engine.local, None, 4, 1.0, 0.0, 8192)
    assert ray_target("s3://b/v/", None) == ("s3://b/v/", OutputFormat.parquet)
    assert ray_target("kb.lance/", None) == ("kb.lance", OutputFormat.lance)


def test_the_cli_restates_the_engines_shard_size() -> None:
    from embedcli.cli.embed_engine import DEFAULT_SHARD_ROWS as shown
    from embedcli.embed.ray_engine import DEFAULT_SHARD_ROWS

    assert shown == DEFAULT_SHARD_ROWS
