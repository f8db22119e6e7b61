"""`embed --engine ray`: the engine options and where a sharded run writes (a folder or a store, never stdout)."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

__all__ = ["DEFAULT_SHARD_ROWS", "Engine", "ray_options", "ray_target"]
from embedcli.errors import UsageError
from embedcli.formats import OutputFormat

if TYPE_CHECKING:
    from embedcli.embed.ray_engine import RayOptions

# The engine's default, restated so `--help` does not import the engine (a test checks they agree).
DEFAULT_SHARD_ROWS = 8_192  # a multiple of the pipeline's window for power-of-two batch sizes


class Engine(str, Enum):
    local = "local"
    ray = "ray"


PANEL = "Engine"
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine", help="local: this process. ray: Ray actors, into a shard folder or store.", rich_help_panel=PANEL
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="Join this Ray cluster ('auto', 'ray://host:10001'); default: a local one for the run.",
        rich_help_panel=PANEL,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Ray actors (default: one per free CPU).", rich_help_panel=PANEL),
]
CpusPerWorkerOpt = Annotated[
    float, typer.Option("--cpus-per-worker", min=0.1, help="CPUs (and threads) per actor.", rich_help_panel=PANEL)
]
GpusPerWorkerOpt = Annotated[
    float, typer.Option("--gpus-per-worker", min=0, help="GPUs per actor.", rich_help_panel=PANEL)
]
ShardRowsOpt = Annotated[
    int, typer.Option("--shard-rows", min=1, help="Rows per part-NNNNN.parquet.", rich_help_panel=PANEL)
]


def ray_target(output: str | None, fmt: OutputFormat | None) -> tuple[str, OutputFormat]:
    """Where --engine ray writes: a store (NAME.lance) or a shard folder (local or remote); stdout is refused."""
    if output in (None, "-"):
        raise UsageError(
            "--engine ray cannot write to stdout", hint="name a folder (-o vectors/) or a store (-o kb.lance)"
        )
    assert output is not None
    if output.rstrip("/").endswith(".lance"):
        return output.rstrip("/"), OutputFormat.lance
    if fmt not in (None, OutputFormat.parquet):
        raise UsageError("--engine ray writes a folder of Parquet parts", hint="drop --format, or use --engine local")
    return output, OutputFormat.parquet


def ray_options(
    engine: Engine, address: str | None, workers: int | None, cpus: float, gpus: float, shard_rows: int
) -> RayOptions | None:
    """The Ray settings, or None for the local engine (which refuses the Ray-only options)."""
    if engine is Engine.local:
        if workers is not None or gpus or shard_rows != DEFAULT_SHARD_ROWS:
            raise UsageError("--workers, --gpus-per-worker and --shard-rows apply to --engine ray")
        return None
    from embedcli.embed.ray_engine import RayOptions

    return RayOptions(address, workers, cpus, gpus, shard_rows)
