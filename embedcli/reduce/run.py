"""The reduce pipeline: fit a reducer (on every row, streamed, or on a seeded sample), then transform every row
batch by batch into a writer, keeping small seeded samples on the way for the quality report and the map.

The map's sample keeps each plotted row's point, id and text; its clusters (HDBSCAN, or k-means with a count) are
found on the sample's first two output coordinates and named from its texts. When every output row must carry its
cluster (`PlotRequest.cluster_output`), the rows are transformed twice: once for the map, then into the writer,
each row taking the cluster of its nearest mapped point.

Memory is bounded by one block of rows for the linear methods, whatever the input size; UMAP and t-SNE hold
the rows they are fitted on. Rows are numbered in input order; every sample is drawn from the row count,
which is known before the first pass, so a seed picks the same rows every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.formats.outputs import VectorWriter
from embedcli.formats.vector_batches import VectorBatches
from embedcli.precision import Precision, dequantize
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch, VectorTable
from embedcli.reduce.clusters import NOISE, cluster_points, label_by_nearest, name_clusters
from embedcli.reduce.methods import Fitted, LinearReducer, Reducer, fit_reducer
from embedcli.reduce.saved import SOURCE_KEYS, check_applicable
from embedcli.reduce.settings import ReduceMethod, ReduceSettings

BLOCK_ROWS = 16_384
QUALITY_SAMPLE = 1_000
PLOT_MAX_POINTS = 200_000


@dataclass
class PlotData:
    """What a map needs: the first two output coordinates of (a sample of) the rows, in input order, with each
    plotted row's id and text (None where the input has none), its colour value when asked for, a few label
    texts, and its cluster (-1: noise) with the clusters' names when the map is clustered."""

    points: np.ndarray
    total_rows: int
    colors: list[Any] | None = None
    labels: dict[int, str] = field(default_factory=dict)  # position in `points` -> text
    ids: list[str] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)
    clusters: np.ndarray | None = None
    cluster_names: dict[int, str] = field(default_factory=dict)

    @property
    def hover_texts(self) -> list[str]:
        """What hovering each point shows: its text, or its id where it has none."""
        return [t or i for i, t in zip(self.ids, self.texts, strict=True)]


@dataclass
class ReduceReport:
    rows: int = 0
    fitted_rows: int = 0
    fit_seconds: float = 0.0
    transform_seconds: float = 0.0
    trustworthiness: float | None = None
    trust_rows: int = 0
    trust_neighbors: int = 0


@dataclass
class PlotRequest:
    """The map to keep: `color_by` a column, else clusters unless `clusters` is False; `n_clusters` asks for
    k-means with that count (else HDBSCAN); `cluster_output` writes `cluster` and `cluster_name` for every row."""

    color_by: str | None = None
    labels: int = 0
    clusters: bool = True
    n_clusters: int | None = None
    cluster_output: bool = False

    @property
    def clustered(self) -> bool:
        return self.cluster_output or (self.clusters and self.color_by is None)


class ReductionRun:
    """Reduces one vector input. Call `fit()`, then `write(writer)` once; read `report`, `plot_data` after."""

    def __init__(
        self,
        data: VectorBatches,
        settings: ReduceSettings,
        reducer: Reducer | None = None,
        fit_sample: int | None = None,
        any_model: bool = False,
        plot: PlotRequest | None = None,
    ) -> None:
        if data.num_rows == 0:
            raise InputError(f"{data.name}: no vectors")
        precision = data.provenance.precision
        if precision in (Precision.binary.value, Precision.ubinary.value):
            raise InputError(f"{data.name}: packed binary vectors cannot be reduced", hint="embed with float precision")
        self.data, self.settings, self.plot, self.fit_sample = data, settings, plot, fit_sample
        self.loaded = reducer is not None
        self.fitted = Fitted(reducer)
        if reducer is not None:
            check_applicable(reducer, data.width, data.provenance, any_model)
        self._check_settings()
        self.report = ReduceReport(rows=data.num_rows)
        self.plot_data: PlotData | None = None
        ranges = data.provenance.quantization_ranges
        self._ranges = np.asarray(ranges) if precision in ("int8", "uint8") and ranges is not None else None

    @property
    def output_dim(self) -> int:
        return self.fitted.reducer.output_dim if self.fitted.reducer is not None else self.settings.dim

    @property
    def sampled(self) -> bool:
        return self.fit_sample is not None and self.fit_sample < self.data.num_rows

    def _check_settings(self) -> None:
        if self.loaded:
            return
        method, k, width = self.settings.method, self.settings.dim, self.data.width
        rows = min(self.fit_sample or self.data.num_rows, self.data.num_rows)
        if method is ReduceMethod.tsne and self.sampled:
            raise UsageError("t-SNE cannot place rows it was not fitted on", hint="drop --fit-sample, or use umap")
        if method is ReduceMethod.tsne and k > 3:
            raise UsageError("t-SNE makes maps of 2 or 3 dimensions", hint="use --dim 2 or 3, or another method")
        limit = (
            min(rows, width) if method in (ReduceMethod.pca, ReduceMethod.svd, ReduceMethod.incremental_pca) else width
        )
        if k > limit:
            what = f"{width} input dimensions" if limit == width else f"{rows} rows to fit on"
            raise UsageError(f"--dim {k} is more than the {what}")
        if method is ReduceMethod.pca and rows < 2:
            raise InputError("PCA needs at least 2 rows to fit on")

    def fit(self) -> None:
        """Fit the reducer (unless one was given), on every row or on a seeded sample of `fit_sample` rows."""
        if self.loaded:
            return
        started = time.perf_counter()
        fit_rows = self.data.num_rows
        if self.sampled and self.settings.method.needs_data:
            assert self.fit_sample is not None
            rng = np.random.default_rng(self.settings.seed)
            picked = np.sort(rng.choice(self.data.num_rows, self.fit_sample, replace=False))
            sample = self._floats(self.data.take(picked))
            blocks: Any = batches_of(sample, BLOCK_ROWS)
            fit_rows = len(sample)
        else:
            blocks = (self._floats(b.vectors) for b in self.data.batches(BLOCK_ROWS, vectors_only=True))
        self.fitted = fit_reducer(blocks, self.data.width, self.settings, BLOCK_ROWS)
        if self.sampled:
            self.fitted.training_output = None  # the fit's own output covers the sample only
        if self.fitted.reducer is not None:
            recorded = self.data.provenance
            self.fitted.reducer.source = {
                k: recorded.get(k) for k in (*SOURCE_KEYS, "dimension") if recorded.get(k) is not None
            }
        self.report.fitted_rows = fit_rows if self.settings.method.needs_data else 0
        self.report.fit_seconds = time.perf_counter() - started

    @property
    def reducer(self) -> Reducer | None:
        return self.fitted.reducer

    def provenance(self) -> dict[str, Any]:
        s = self.settings
        if self.fitted.reducer is not None:
            meta = self.fitted.reducer.provenance()
        else:
            meta = {"method": s.method.value, "input_dimension": self.data.width, "dimensions": s.dim, "seed": s.seed}
            meta["fitted_rows"] = self.report.fitted_rows
        if not self.loaded and s.method in (ReduceMethod.umap, ReduceMethod.tsne):
            meta["metric"] = s.metric.value
            if s.method is ReduceMethod.umap:
                meta.update(neighbors=s.neighbors, min_dist=s.min_dist)
            else:
                meta["perplexity"] = s.perplexity
        if not self.loaded and s.method is ReduceMethod.random_projection:
            meta["projection"] = s.projection.value
        if self.loaded:
            meta["saved_reducer"] = True
        return meta

    def output_provenance(self) -> Provenance:
        """The output's provenance: the input's, updated for the new vectors, plus the reduction's record."""
        recorded = self.data.provenance
        reduction = self.provenance()
        if recorded.reduction is not None:
            reduction["previous"] = recorded.reduction
        normalized = isinstance(self.reducer, LinearReducer) and self.reducer.normalize
        return recorded.with_changes(
            dimension=self.output_dim,
            precision="float32",
            normalized=normalized,
            quantization_ranges=None,
            reduction=reduction,
        )

    def write(self, writer: VectorWriter | None, on_progress: Callable[[int], None] | None = None) -> None:
        """Transform every row in input order into `writer` (None: transform only, for the report and the plot)."""
        started = time.perf_counter()
        samples = _Samples(self.data.num_rows, self.settings.seed, self.output_dim <= 3, self.plot)
        if writer is not None and self.plot is not None and self.plot.cluster_output:
            # A row's cluster is known only once the whole map is: map first, then write.
            self._pass(None, samples, None)
            self._finish(samples)
            self._pass(writer, None, on_progress)
        else:
            self._pass(writer, samples, on_progress)
            self._finish(samples)
        self.report.transform_seconds = time.perf_counter() - started

    def _pass(
        self, writer: VectorWriter | None, samples: _Samples | None, on_progress: Callable[[int], None] | None
    ) -> None:
        need_columns = writer is not None or (samples is not None and samples.needs_columns)
        offset = 0
        for batch in self.data.batches(BLOCK_ROWS, vectors_only=not need_columns):
            x = self._floats(batch.vectors)
            y = self._output(x, offset)
            if writer is not None:
                texts = batch.texts if batch.texts is not None else [""] * len(batch.ids)
                # The input's other columns (kept by embed --keep-columns) go on, so a map can be coloured by them.
                columns = {**batch.columns, **self._cluster_columns(y)}
                writer.write(EmbeddedBatch(list(batch.ids), [t or "" for t in texts], y, columns))
            if samples is not None:
                samples.add(batch, x, y, offset)
            offset += len(x)
            if on_progress is not None:
                on_progress(offset)

    def _finish(self, samples: _Samples) -> None:
        if samples.quality_in:
            self._trustworthiness(np.concatenate(samples.quality_in), np.concatenate(samples.quality_out))
        self.plot_data = samples.plot_data()
        if self.plot is not None and self.plot.clustered and self.plot_data is not None:
            self._cluster(self.plot_data, self.plot.n_clusters)

    def _cluster(self, plot: PlotData, n_clusters: int | None) -> None:
        if plot.points.shape[1] < 2:
            raise UsageError("clusters are found on a map of at least 2 dimensions", hint="use --dim 2 or more")
        plot.clusters = cluster_points(plot.points, n_clusters=n_clusters, seed=self.settings.seed)
        plot.cluster_names = name_clusters(plot.clusters, plot.texts)

    def _cluster_columns(self, y: np.ndarray) -> dict[str, list[Any]]:
        plot = self.plot_data
        if self.plot is None or not self.plot.cluster_output or plot is None or plot.clusters is None:
            return {}
        labels = label_by_nearest(y, plot.points, plot.clusters)
        names = [None if c == NOISE else plot.cluster_names.get(int(c)) for c in labels]
        return {"cluster": labels.tolist(), "cluster_name": names}

    def _output(self, x: np.ndarray, offset: int) -> np.ndarray:
        if self.fitted.training_output is not None:
            return self.fitted.training_output[offset : offset + len(x)]
        assert self.fitted.reducer is not None
        return self.fitted.reducer.transform(x)

    def _floats(self, vectors: np.ndarray) -> np.ndarray:
        if self._ranges is not None:
            precision = Precision(self.data.provenance.precision)
            return dequantize(np.asarray(vectors), precision, self._ranges)
        return np.asarray(vectors, dtype=np.float32)

    def _trustworthiness(self, high: np.ndarray, low: np.ndarray) -> None:
        try:
            from sklearn.manifold import trustworthiness
        except ImportError:
            return
        neighbors = min(5, len(high) // 2 - 1)
        if neighbors < 1:
            return
        metric = (
            self.settings.metric.value
            if self.settings.method in (ReduceMethod.umap, ReduceMethod.tsne)
            else "euclidean"
        )
        self.report.trustworthiness = float(trustworthiness(high, low, n_neighbors=neighbors, metric=metric))
        self.report.trust_rows, self.report.trust_neighbors = len(high), neighbors


class _Samples:
    """Seeded samples kept during the transform pass: rows for the quality check, points and labels to plot."""

    def __init__(self, rows: int, seed: int, quality: bool, plot: PlotRequest | None) -> None:
        rng = np.random.default_rng(seed + 1)
        none = np.empty(0, np.int64)
        self.rows, self.plot = rows, plot
        self.quality = _pick(rng, rows, QUALITY_SAMPLE) if quality else none
        self.plotted = _pick(rng, rows, PLOT_MAX_POINTS) if plot is not None else none
        count = min(plot.labels, len(self.plotted)) if plot is not None else 0
        self.labelled = np.sort(rng.choice(self.plotted, count, replace=False)) if count else none
        self.needs_columns = plot is not None  # every plotted row's text: hover text, search, cluster names
        self.quality_in: list[np.ndarray] = []
        self.quality_out: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.colors: list[Any] = []
        self.labels: dict[int, str] = {}
        self.ids: list[str] = []
        self.texts: list[str | None] = []

    def add(self, batch: VectorTable, x: np.ndarray, y: np.ndarray, offset: int) -> None:
        local = _local(self.quality, offset, len(x))
        if len(local):
            self.quality_in.append(x[local])
            self.quality_out.append(y[local])
        if self.plot is None:
            return
        local = _local(self.plotted, offset, len(x))
        self.points.append(y[local, :2])
        self.ids.extend(batch.ids[i] for i in local)
        self.texts.extend([batch.texts[i] for i in local] if batch.texts else [None] * len(local))
        if self.plot.color_by:
            values = _column(batch, self.plot.color_by)
            self.colors.extend(values[i] for i in local)
        for i in _local(self.labelled, offset, len(x)):
            position = int(np.searchsorted(self.plotted, offset + i))
            self.labels[position] = (batch.texts[i] if batch.texts else None) or batch.ids[i]

    def plot_data(self) -> PlotData | None:
        if self.plot is None:
            return None
        colors = self.colors if self.plot.color_by else None
        return PlotData(np.concatenate(self.points), self.rows, colors, self.labels, self.ids, self.texts)


def check_color_column(data: VectorBatches, column: str) -> None:
    """Raise a usage error unless `column` can colour a plot of `data`."""
    known = ["id", *(["text"] if data.has_text else []), *data.column_names]
    if column not in known:
        raise UsageError(f"--color-by: no column '{column}' in {data.name}", hint=f"columns here: {', '.join(known)}")


def _column(batch: VectorTable, name: str) -> list[Any]:
    if name == "id":
        return list(batch.ids)
    if name == "text":
        return list(batch.texts or [])
    return list(batch.columns[name])


def _pick(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of `size` rows (all rows when there are no more)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size, replace=False)).astype(np.int64)


def _local(rows: np.ndarray, offset: int, length: int) -> np.ndarray:
    """Positions within a batch starting at row `offset` of the sorted row numbers `rows`."""
    lo, hi = np.searchsorted(rows, [offset, offset + length])
    return rows[lo:hi] - offset


def batches_of(array: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    for start in range(0, len(array), rows):
        yield array[start : start + rows]
