"""`embedcli index`: an HNSW index over a corpus, for fast approximate `similar --index` with exact scores."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.cli import options as opt
from embedcli.cli.console import info, plural, progress_bar
from embedcli.formats import IndexPrecision, Kind
from embedcli.formats.targets import resolve_output
from embedcli.metrics import Metric

EPILOG = """\
Examples:

  embedcli index vectors.parquet -o vectors.index

  embedcli index kb.lance -o kb.index --precision i8 --target-recall 0.95

  embedcli similar vectors.parquet "how do I reset my password" --index vectors.index

  embedcli info vectors.index
"""


def index(
    corpus: Annotated[str, typer.Argument(help="Vector file (Parquet, Arrow, NPY, JSONL), store (.lance) or words.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The index file (.index).", show_default=False)],
    precision: Annotated[
        IndexPrecision | None,
        typer.Option(
            "--precision", help="How the graph stores vectors (scores are exact whatever it is).", show_default="f32"
        ),
    ] = None,
    metric: Annotated[
        Metric | None,
        typer.Option("--metric", help="cosine (default; hamming for binary vectors), dot, euclidean, hamming."),
    ] = None,
    m: Annotated[int, typer.Option("--m", min=2, help="Graph links per node (HNSW M).")] = 16,
    ef_construction: Annotated[
        int, typer.Option("--ef-construction", min=1, help="Search breadth while building the graph.")
    ] = 128,
    ef: Annotated[int | None, typer.Option("--ef", min=1, help="Default search breadth.", show_default="tuned")] = None,
    target_recall: Annotated[
        float | None,
        typer.Option(
            "--target-recall",
            min=0.0,
            max=1.0,
            help="Tune the default --ef to reach this recall@10.",
            show_default="0.95",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads", min=1, envvar="EMBEDCLI_THREADS", show_default="all cores", help="Threads building the graph."
        ),
    ] = None,
    version: opt.StoreVersionOpt = None,
    quiet: opt.QuietOpt = False,
) -> None:
    """Build an HNSW index of a corpus and measure its recall@10 against exact search.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted.
    """
    from embedcli.search import IndexRequest, build_for_corpus

    target = resolve_output(output, Kind.index_file, stdout_is_terminal=False, protected=[corpus])
    request = IndexRequest(
        corpus, str(target.path), metric, precision, m, ef_construction, ef, target_recall, threads, version
    )
    with progress_bar("indexing", None, enabled=not quiet) as update:
        header = build_for_corpus(request, progress=lambda done, total: update(done, done))
    if not quiet:
        held, drawn = header.held_out.at(header.ef), header.in_corpus.at(header.ef)
        info(
            f"{plural(header.rows, 'row')} indexed by {header.metric.value} ({header.precision.value}, M {header.m}): "
            f"recall@{header.held_out.k} {held:.3f} on held-out rows, {drawn:.3f} on corpus rows at ef {header.ef}"
        )
