"""The options of `embedcli reduce`, declared once with their help text."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.reduce.settings import Metric, Projection, ReduceMethod

SourceArg = Annotated[
    str | None,
    typer.Argument(
        help="Vector file (Parquet, Arrow, NPY, JSONL), or '-' for stdin (read when piped).", show_default=False
    ),
]
MethodOpt = Annotated[
    ReduceMethod | None,
    typer.Option("--method", help="Reduction method.", show_default="pca", case_sensitive=False),
]
DimOpt = Annotated[
    int | None, typer.Option("--dim", "-d", min=1, help="Output dimensions.", show_default="2, or the reducer's")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for sampling and every random method.")]
WhitenOpt = Annotated[bool, typer.Option("--whiten", help="PCA: scale components to unit variance.")]
ProjectionOpt = Annotated[Projection, typer.Option("--projection", help="random-projection: the matrix kind.")]
NeighborsOpt = Annotated[int, typer.Option("--neighbors", min=2, help="UMAP: neighbourhood size.")]
MinDistOpt = Annotated[float, typer.Option("--min-dist", min=0.0, help="UMAP: minimum distance between points.")]
MetricOpt = Annotated[Metric, typer.Option("--metric", help="UMAP/t-SNE: distance between input vectors.")]
PerplexityOpt = Annotated[float, typer.Option("--perplexity", min=1.0, help="t-SNE: perplexity.")]
FitSampleOpt = Annotated[
    int | None,
    typer.Option("--fit-sample", min=1, help="Fit on a seeded sample of N rows, then transform every row (streamed)."),
]
SaveReducerOpt = Annotated[
    str | None,
    typer.Option(
        "--save-reducer",
        help="Keep the fitted reducer: .npz or .safetensors (linear methods), .pkl (UMAP).",
        show_default=False,
    ),
]
ReducerOpt = Annotated[
    str | None,
    typer.Option("--reducer", help="Apply a saved reducer instead of fitting one.", show_default=False),
]
TrustPickleOpt = Annotated[
    bool, typer.Option("--trust-pickle", help="Allow loading a pickled reducer (.pkl): it can run code.")
]
AnyModelOpt = Annotated[
    bool, typer.Option("--any-model", help="Apply --reducer even to vectors from another model's metadata.")
]
PlotOpt = Annotated[
    str | None,
    typer.Option("--plot", help="Draw a 2-D scatter plot to FILE.png, or '-' for stdout.", show_default=False),
]
ColorByOpt = Annotated[
    str | None, typer.Option("--color-by", help="Plot: colour points by this column.", show_default=False)
]
LabelsOpt = Annotated[int, typer.Option("--labels", min=0, help="Plot: label up to N points with their text.")]
TitleOpt = Annotated[str | None, typer.Option("--title", help="Plot: title.", show_default="method and input")]
VectorColumnOpt = Annotated[str, typer.Option("--vector-column", help="Column holding the input vectors.")]
KeepTextOpt = Annotated[bool, typer.Option("--keep-text/--no-text", help="Keep the input's text column.")]
