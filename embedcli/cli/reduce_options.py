"""The options of `embedcli reduce`, declared once with their help text."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.formats import PlotFormat
from embedcli.reduce.settings import Metric, Projection, ReduceMethod, Theme

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
    typer.Option(
        "--plot",
        help="Draw a map to FILE.png, .svg, .pdf or .html (interactive: zoom, pan, hover, search), or '-' for stdout.",
        show_default=False,
    ),
]
PlotFormatOpt = Annotated[
    PlotFormat | None,
    typer.Option("--plot-format", help="Map format, whatever the suffix.", show_default="the suffix; png on stdout"),
]
ColorByOpt = Annotated[
    str | None,
    typer.Option("--color-by", help="Map: colour points by this column instead of clusters.", show_default=False),
]
ClustersOpt = Annotated[
    int | None,
    typer.Option(
        "--clusters",
        min=1,
        help="Find N clusters (k-means on the map) and write 'cluster' and 'cluster_name' columns for every row.",
        show_default="HDBSCAN finds them, on maps only",
    ),
]
NoClustersOpt = Annotated[bool, typer.Option("--no-clusters", help="Map: no clusters, every point one colour.")]
SizeOpt = Annotated[
    float, typer.Option("--size", min=0.5, max=100.0, help="Map: width and height in inches (PNG, SVG, PDF).")
]
DpiOpt = Annotated[int, typer.Option("--dpi", min=10, max=1200, help="Map: dots per inch (PNG pixels = size × dpi).")]
ThemeOpt = Annotated[Theme, typer.Option("--theme", help="Map colours.", case_sensitive=False)]
LabelsOpt = Annotated[
    int, typer.Option("--labels", min=0, help="Map: also label up to N sampled points with their text.")
]
ThumbnailsOpt = Annotated[
    bool,
    typer.Option(
        "--thumbnails",
        help="Map of images: draw small pictures at sampled points and a few examples per cluster (files found "
        "where `embed` read them).",
    ),
]
TitleOpt = Annotated[
    str | None, typer.Option("--title", help="Map: title.", show_default="the input's file name, model and count")
]
VectorColumnOpt = Annotated[str, typer.Option("--vector-column", help="Column holding the input vectors.")]
KeepTextOpt = Annotated[bool, typer.Option("--keep-text/--no-text", help="Keep the input's text column.")]
