"""`embedcli reduce`: vectors in, fewer dimensions out; fit a reducer once, keep it, apply it again, look at it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from embedcli.cli import options as opt
from embedcli.cli import reduce_options as ro
from embedcli.cli.console import info, plural, progress_bar, warn
from embedcli.cli.io import resolve_inputs, resolve_output
from embedcli.errors import UsageError
from embedcli.formats import STDIO, Kind, OutputFormat
from embedcli.formats.targets import resolve_output as resolve_target
from embedcli.reduce.settings import Metric, Projection, ReduceMethod, ReduceSettings, Theme

if TYPE_CHECKING:
    from embedcli.formats.targets import OutputTarget
    from embedcli.reduce.map_files import MapStyle
    from embedcli.reduce.run import ReductionRun
    from embedcli.reduce.thumbnails import MapPictures

EPILOG = """\
Examples:

  embedcli reduce vectors.parquet --dim 64 -o small.parquet

  embedcli reduce vectors.parquet --method umap --plot map.png

  embedcli reduce vectors.parquet --method umap --plot map.html

  embedcli reduce vectors.parquet --method umap --plot map.svg --color-by genre

  embedcli reduce photos.parquet --dim 2 --plot map.png --thumbnails

  embedcli reduce vectors.parquet --method umap --clusters 12 -o map.parquet

  embedcli reduce big.parquet --dim 128 --save-reducer pca128.npz -o big128.parquet

  embedcli reduce new.parquet --reducer pca128.npz -o new128.parquet

  cat docs.txt | embedcli embed | embedcli reduce - --method umap --plot - > map.png

  embedcli reduce vectors.parquet --method matryoshka --dim 128 -o v128.parquet

  embedcli reduce huge.parquet --dim 64 --fit-sample 100000 -o huge64.parquet
"""


def reduce(
    source: ro.SourceArg = None,
    output: opt.OutputOpt = None,
    fmt: opt.FormatOpt = None,
    method: ro.MethodOpt = None,
    dim: ro.DimOpt = None,
    seed: ro.SeedOpt = 0,
    whiten: ro.WhitenOpt = False,
    projection: ro.ProjectionOpt = Projection.gaussian,
    neighbors: ro.NeighborsOpt = 15,
    min_dist: ro.MinDistOpt = 0.1,
    metric: ro.MetricOpt = Metric.euclidean,
    perplexity: ro.PerplexityOpt = 30.0,
    fit_sample: ro.FitSampleOpt = None,
    save_reducer_to: ro.SaveReducerOpt = None,
    reducer_file: ro.ReducerOpt = None,
    trust_pickle: ro.TrustPickleOpt = False,
    any_model: ro.AnyModelOpt = False,
    plot: ro.PlotOpt = None,
    plot_format: ro.PlotFormatOpt = None,
    color_by: ro.ColorByOpt = None,
    clusters: ro.ClustersOpt = None,
    no_clusters: ro.NoClustersOpt = False,
    size: ro.SizeOpt = 8.0,
    dpi: ro.DpiOpt = 100,
    theme: ro.ThemeOpt = Theme.light,
    labels: ro.LabelsOpt = 0,
    thumbnails: ro.ThumbnailsOpt = False,
    title: ro.TitleOpt = None,
    vector_column: ro.VectorColumnOpt = "embedding",
    keep_text: ro.KeepTextOpt = True,
    version: opt.StoreVersionOpt = None,
    quiet: opt.QuietOpt = False,
) -> None:
    """Reduce vectors to fewer dimensions: PCA, incremental PCA, SVD, random projection, UMAP, t-SNE, Matryoshka.

    Reports explained variance (PCA/SVD) and, for 2-D/3-D outputs, trustworthiness on stderr. Without -o, the
    vectors go to stdout unless --plot - takes it, or stdout is a terminal and --plot/--save-reducer was asked.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    # The command's library loads here, not with the module: `embedcli --help` imports every command module.
    from embedcli.formats.outputs import commit_together, open_vector_writer
    from embedcli.formats.vector_batches import VectorBatches
    from embedcli.reduce.map_files import MapStyle
    from embedcli.reduce.run import PlotRequest, ReductionRun, check_color_column
    from embedcli.reduce.saved import load_reducer
    from embedcli.reduce.thumbnails import check_picture_corpus

    path = resolve_inputs([source] if source else None)[0]
    _check_combinations(method, whiten, reducer_file, save_reducer_to, plot, output, color_by)
    if thumbnails and not plot:
        raise UsageError("--thumbnails draws pictures on a map: add --plot FILE.png (or .html)")
    if clusters is not None and no_clusters:
        raise UsageError("--clusters and --no-clusters contradict each other")
    if reducer_file and fit_sample:
        raise UsageError("--fit-sample chooses rows to fit on, but --reducer is already fitted")
    writes = output is not None or not (plot == STDIO or (sys.stdout.isatty() and (plot or save_reducer_to)))
    reads = [path, reducer_file]
    target, out_format = resolve_output(output, fmt, reads) if writes else (None, OutputFormat.jsonl)
    terminal = sys.stdout.isatty()
    if clusters is not None and writes and out_format is OutputFormat.npy:
        raise UsageError("an NPY file has no room for the cluster columns", hint="write .parquet, .arrow or .jsonl")
    plot_target = None
    if plot:
        plot_target = resolve_target(
            plot,
            Kind.plot,
            plot_format.value if plot_format else None,
            stdout_is_terminal=terminal,
            in_pipe="png",
            on_terminal="png",
            protected=reads,
        )
    if save_reducer_to:
        resolve_target(save_reducer_to, Kind.reducer, stdout_is_terminal=terminal, protected=reads)
    loaded = load_reducer(reducer_file, trust_pickle) if reducer_file else None
    if loaded is not None and dim is not None and dim != loaded.output_dim:
        raise UsageError(f"--dim {dim} disagrees with the reducer, which makes {loaded.output_dim} dimensions")
    settings = ReduceSettings(
        method or ReduceMethod.pca, dim or 2, seed, whiten, projection, neighbors, min_dist, metric, perplexity
    )
    # -o, --plot and --save-reducer appear together or not at all: a failed plot leaves no vectors behind.
    with commit_together(), VectorBatches(path, vector_column, version=version) as data:
        if color_by:
            check_color_column(data, color_by)
        if thumbnails:
            check_picture_corpus(data.provenance, data.name)
        # --clusters alone still needs the map's sample: the output's clusters are the map's.
        request = (
            PlotRequest(color_by, labels, not no_clusters, clusters, writes and clusters is not None)
            if plot or clusters is not None
            else None
        )
        run = ReductionRun(data, settings, loaded, fit_sample, any_model, request)
        run.fit()
        if save_reducer_to:
            _save(run, save_reducer_to)
        if writes or plot or run.output_dim <= 3:
            with progress_bar("reducing", data.num_rows, enabled=not quiet) as update:
                if writes:
                    with open_vector_writer(
                        target, out_format, run.output_provenance(), keep_text and data.has_text
                    ) as w:
                        run.write(w, lambda rows: update(rows, rows))
                else:
                    run.write(None, lambda rows: update(rows, rows))
        if plot_target is not None and run.plot_data is not None:
            _draw(run, plot_target, path, MapStyle(title or "", size, dpi, theme), quiet, thumbnails)
    if not quiet:
        _summarize(run, data.name)


def _check_combinations(
    method: ReduceMethod | None,
    whiten: bool,
    reducer_file: str | None,
    save_to: str | None,
    plot: str | None,
    output: str | None,
    color_by: str | None,
) -> None:
    if reducer_file and (method is not None or whiten):
        raise UsageError("--reducer brings its own method: drop --method and --whiten")
    if method is ReduceMethod.tsne and save_to:
        raise UsageError("a t-SNE map cannot be saved: t-SNE cannot place new points", hint="use --method umap")
    if reducer_file and save_to:
        raise UsageError("--reducer and --save-reducer together would only copy the reducer")
    if whiten and method not in (None, ReduceMethod.pca, ReduceMethod.incremental_pca):
        raise UsageError("--whiten applies to pca and incremental-pca only")
    if plot == STDIO and output == STDIO:
        raise UsageError("stdout can carry the vectors or the plot, not both", hint="write the vectors with -o FILE")
    if color_by and not plot:
        raise UsageError("--color-by colours a plot: add --plot FILE.png")


def _save(run: ReductionRun, path: str) -> None:
    from embedcli.reduce.saved import save_reducer

    if run.reducer is None:
        raise UsageError("a t-SNE map cannot be saved: t-SNE cannot place new points", hint="use --method umap")
    if save_reducer(run.reducer, path):
        warn(f"{path} is a pickle: loading it can run code, so --reducer needs --trust-pickle to read it back")


def _draw(run: ReductionRun, target: OutputTarget, source: str, style: MapStyle, quiet: bool, thumbnails: bool) -> None:
    from dataclasses import replace

    from embedcli.reduce.map_files import map_pictures, write_map
    from embedcli.reduce.maps import map_title

    plot = run.plot_data
    assert plot is not None
    if not style.title:
        style = replace(style, title=map_title(source, run.data.provenance.model, len(plot.points), plot.total_rows))
    pictures = map_pictures(plot, target, run.data.provenance, run.settings.seed) if thumbnails else None
    if pictures is not None:
        _warn_pictures(pictures)
    dropped = write_map(plot, target, style, pictures)
    if dropped:
        warn(f"{plural(dropped, 'cluster name')} found no free place on the map and were left out")
    if not quiet and plot.clusters is not None:
        named = ", ".join(list(plot.cluster_names.values())[:5])
        more = " …" if len(plot.cluster_names) > 5 else ""
        info(f"map: {plural(len(plot.cluster_names), 'cluster')} ({named}{more})")


def _warn_pictures(pictures: MapPictures) -> None:
    """One line for the files not found, one for those unreadable, each named once (the first few)."""
    where = f" under {pictures.root}" if pictures.root else " (no folder recorded: looked from here)"
    if pictures.missing:
        names = ", ".join(pictures.missing[:5]) + (" …" if len(pictures.missing) > 5 else "")
        warn(f"thumbnails: {plural(len(pictures.missing), 'image')} of {pictures.wanted:,} not found{where}: {names}")
    if pictures.unreadable:
        shown = pictures.unreadable[:3]
        names = "; ".join(f"{i} ({reason})" for i, reason in shown) + (" …" if len(pictures.unreadable) > 3 else "")
        warn(f"thumbnails: {plural(len(pictures.unreadable), 'image')} could not be read: {names}")


def _summarize(run: ReductionRun, name: str) -> None:
    from embedcli.reduce.methods import LinearReducer

    report, prov = run.report, run.provenance()
    fitted = f"fitted on {plural(report.fitted_rows, 'row')}" if report.fitted_rows else "nothing to fit"
    fitted = "applied a saved reducer" if run.loaded else fitted
    seconds = report.fit_seconds + report.transform_seconds
    info(
        f"reduced {plural(report.rows, 'vector')} from {name}: {prov['input_dimension']} → {run.output_dim} dims with "
        f"{prov['method']} ({fitted}) in {seconds:.1f} s"
    )
    reducer = run.reducer
    if isinstance(reducer, LinearReducer) and reducer.explained_variance_ratio is not None:
        ratio = reducer.explained_variance_ratio
        first = " ".join(f"{r:.1%}" for r in ratio[:5])
        info(f"explained variance: {plural(len(ratio), 'component')} keep {ratio.sum():.1%} (first: {first})")
    if report.trustworthiness is not None:
        sample = f"{report.trust_neighbors} neighbours, {report.trust_rows:,}-row sample"
        info(f"trustworthiness: {report.trustworthiness:.3f} ({sample})")
