"""Dimensionality reduction methods and the fitted reducers they produce.

A reducer maps float32 vectors (n, input_dim) to (n, output_dim). Linear reducers (PCA, incremental PCA, SVD,
random projection, Matryoshka truncation) are a mean, a matrix and a few flags, so they can be saved in a safe
array format and fitted on a stream of blocks in bounded memory. UMAP keeps a fitted model that can place new
points; t-SNE cannot place new points at all, so it only embeds the rows it was fitted on.
Optional libraries (scikit-learn, umap-learn) load only when their method runs.
"""

from __future__ import annotations

import importlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from embedcli.errors import EmbedcliError, InputError, UsageError
from embedcli.metrics import unit_rows
from embedcli.reduce.pca import GramAccumulator, top_eigenpairs
from embedcli.reduce.settings import Projection, ReduceMethod, ReduceSettings

T = TypeVar("T")
TSNE_THREADED_ROWS = 2_000
EXTRA_HINT = "install the reduce extra: pip install 'embedcli[reduce]'"


def optional_module(name: str, package: str, method: str) -> ModuleType:
    """Import an optional library, or raise one line naming the package and the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise EmbedcliError(f"method '{method}' needs {package}, which is not installed", hint=EXTRA_HINT) from None


class Reducer(ABC):
    """A fitted reduction: `transform` maps (n, input_dim) vectors to float32 (n, output_dim)."""

    method: ReduceMethod
    input_dim: int
    output_dim: int
    seed: int | None
    fitted_rows: int
    source: dict[str, Any]  # metadata of the vectors it was fitted on (model, backend, ...)

    @abstractmethod
    def transform(self, vectors: np.ndarray) -> np.ndarray: ...

    def provenance(self) -> dict[str, Any]:
        """What an output records about the reduction that made it."""
        return {
            "method": self.method.value,
            "input_dimension": self.input_dim,
            "dimensions": self.output_dim,
            "seed": self.seed,
            "fitted_rows": self.fitted_rows,
        }


@dataclass
class LinearReducer(Reducer):
    """(x - mean) @ componentsᵀ, optionally whitened and/or L2-normalised. No components: keep the first k."""

    method: ReduceMethod
    input_dim: int
    output_dim: int
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained_variance: np.ndarray | None = None
    explained_variance_ratio: np.ndarray | None = None
    whiten: bool = False
    normalize: bool = False
    seed: int | None = None
    fitted_rows: int = 0
    source: dict[str, Any] = field(default_factory=dict)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        if self.components is None:
            out = x[:, : self.output_dim]
        else:
            if self.mean is not None:
                x = x - self.mean.astype(np.float32)
            out = x @ self.components.astype(np.float32).T
            if self.whiten and self.explained_variance is not None:
                out /= np.sqrt(np.maximum(self.explained_variance, 1e-12)).astype(np.float32)
        if self.normalize:
            out = unit_rows(out)
        return np.ascontiguousarray(out, dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        meta = super().provenance()
        if self.explained_variance_ratio is not None:
            ratio = self.explained_variance_ratio
            meta["explained_variance_ratio"] = [round(float(r), 6) for r in ratio]
            meta["explained_variance_total"] = round(float(ratio.sum()), 6)
        if self.whiten:
            meta["whiten"] = True
        if self.normalize:
            meta["normalized"] = True
        return meta


@dataclass
class ModelReducer(Reducer):
    """A fitted library model that can place new points (UMAP's `transform`)."""

    method: ReduceMethod
    input_dim: int
    output_dim: int
    model: Any
    seed: int | None = None
    fitted_rows: int = 0
    source: dict[str, Any] = field(default_factory=dict)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.model.transform(np.asarray(vectors, dtype=np.float32))
        return np.ascontiguousarray(out, dtype=np.float32)


@dataclass
class Fitted:
    """A fit's result: the reducer (None for t-SNE), and the output of the rows it was fitted on, in order, when
    the method produces one itself (UMAP, t-SNE), which is then used for those rows instead of `transform`."""

    reducer: Reducer | None
    training_output: np.ndarray | None = None


def fit_reducer(blocks: Iterable[np.ndarray], width: int, settings: ReduceSettings, block_rows: int) -> Fitted:
    """Fit `settings.method` to the rows in `blocks` (float32 (rows, width) arrays, read once, in order)."""
    method, k, seed = settings.method, settings.dim, settings.seed
    if method is ReduceMethod.matryoshka:
        return Fitted(LinearReducer(method, width, k, normalize=True, seed=seed))
    if method is ReduceMethod.random_projection:
        return Fitted(LinearReducer(method, width, k, components=random_matrix(settings, width), seed=seed))
    if method in (ReduceMethod.pca, ReduceMethod.svd):
        return Fitted(_fit_gram(blocks, width, settings))
    if method is ReduceMethod.incremental_pca:
        return Fitted(_fit_incremental(blocks, settings, block_rows))
    rows = np.concatenate([np.asarray(b, dtype=np.float32) for b in blocks])
    if method is ReduceMethod.umap:
        optional_module("umap", "umap-learn", "umap")  # a missing extra is said here, not from the child
        return interruptible(_fit_umap, rows, settings)
    optional_module("sklearn.manifold", "scikit-learn", "tsne")
    return Fitted(None, interruptible(_fit_tsne, rows, settings))


def interruptible(fit: Callable[[np.ndarray, ReduceSettings], T], rows: np.ndarray, settings: ReduceSettings) -> T:
    """`fit(rows, settings)` run in a forked child process, so that an interrupt always wins.

    UMAP and t-SNE spend minutes inside numba and OpenMP code, where a KeyboardInterrupt raised by the SIGINT
    handler can be swallowed by the library (the fit then finished with outputs) or surface as another error. Here
    the parent only waits, in Python, where SIGINT/SIGTERM raise KeyboardInterrupt promptly; the child ignores them
    and is killed on the way out. The result (or the exception the fit raised) comes back pickled. Where fork is
    unavailable the fit runs in this process.
    """
    import multiprocessing
    import pickle

    if "fork" not in multiprocessing.get_all_start_methods():
        return fit(rows, settings)
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_fit_in_child, args=(fit, rows, settings, sender))
    child.start()
    sender.close()
    try:
        while not receiver.poll(0.05):  # short waits: the signal handler runs between them
            if not child.is_alive() and not receiver.poll(0):
                raise EmbedcliError(f"the {settings.method.value} fit ended without a result (exit {child.exitcode})")
        ok, payload = pickle.loads(receiver.recv_bytes())
    except EOFError:
        raise EmbedcliError(f"the {settings.method.value} fit ended without a result (exit {child.exitcode})") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    if not ok:
        raise payload
    return payload


def _fit_in_child(
    fit: Callable[[np.ndarray, ReduceSettings], Any], rows: np.ndarray, settings: ReduceSettings, sender: Any
) -> None:
    import pickle
    import signal

    # The parent handles interrupts and kills this process; a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        result: tuple[bool, Any] = (True, fit(rows, settings))
    except Exception as exc:  # handed to the parent, which raises it
        result = (False, exc)
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception that cannot be pickled: its message still can
        data = pickle.dumps((False, EmbedcliError(f"{settings.method.value} failed: {exc}")))
    sender.send_bytes(data)
    sender.close()


def random_matrix(settings: ReduceSettings, width: int) -> np.ndarray:
    """The seeded (dim, width) projection: N(0, 1/dim) entries, or sparse ±√(s/dim) with density 1/s, s = √width."""
    rng = np.random.default_rng(settings.seed)
    k = settings.dim
    if settings.projection is Projection.gaussian:
        return (rng.standard_normal((k, width)) / np.sqrt(k)).astype(np.float32)
    density = 1 / np.sqrt(width)
    signs = rng.choice([-1.0, 0.0, 1.0], size=(k, width), p=[density / 2, 1 - density, density / 2])
    return (signs * np.sqrt(1 / (density * k))).astype(np.float32)


def _fit_gram(blocks: Iterable[np.ndarray], width: int, settings: ReduceSettings) -> LinearReducer:
    gram = GramAccumulator(width)
    for block in blocks:
        gram.add(block)
    covariance = gram.covariance()
    if not np.isfinite(covariance).all():
        raise InputError("the vectors are too large to reduce: their covariance overflows (values beyond ~1e19)")
    total = float(np.trace(covariance))
    if settings.method is ReduceMethod.pca:
        variance, components = top_eigenpairs(covariance, settings.dim, settings.seed)
        mean: np.ndarray | None = gram.mean.astype(np.float32)
    else:
        _, components = top_eigenpairs(gram.second_moment(), settings.dim, settings.seed)
        # As scikit-learn's TruncatedSVD: the variance of each output column, over the input's total variance.
        variance = np.einsum("ij,jk,ik->i", components, covariance, components)
        mean = None
    return LinearReducer(
        settings.method,
        width,
        settings.dim,
        mean=mean,
        components=components.astype(np.float32),
        explained_variance=variance,
        explained_variance_ratio=variance / total if total > 0 else np.zeros_like(variance),
        whiten=settings.whiten,
        seed=settings.seed,
        fitted_rows=gram.rows,
    )


def _fit_incremental(blocks: Iterable[np.ndarray], settings: ReduceSettings, block_rows: int) -> LinearReducer:
    decomposition = optional_module("sklearn.decomposition", "scikit-learn", settings.method.value)
    model = decomposition.IncrementalPCA(n_components=settings.dim, whiten=settings.whiten)
    pending: np.ndarray | None = None
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        # Every partial fit needs at least `dim` rows: a short block joins the one before it.
        if pending is not None and len(block) >= settings.dim and len(pending) >= settings.dim:
            model.partial_fit(pending)
            pending = None
        pending = block if pending is None else np.concatenate([pending, block])
    if pending is not None:
        model.partial_fit(pending)
    return LinearReducer(
        settings.method,
        model.n_features_in_,
        settings.dim,
        mean=model.mean_.astype(np.float32),
        components=model.components_.astype(np.float32),
        explained_variance=model.explained_variance_,
        explained_variance_ratio=model.explained_variance_ratio_,
        whiten=settings.whiten,
        seed=settings.seed,
        fitted_rows=int(model.n_samples_seen_),
    )


def _fit_umap(rows: np.ndarray, settings: ReduceSettings) -> Fitted:
    umap = optional_module("umap", "umap-learn", "umap")
    if settings.neighbors >= len(rows):
        raise UsageError(f"--neighbors {settings.neighbors} needs more than {len(rows)} rows to fit on")
    model = umap.UMAP(
        n_components=settings.dim,
        n_neighbors=settings.neighbors,
        min_dist=settings.min_dist,
        metric=settings.metric.value,
        random_state=settings.seed,
        transform_seed=settings.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; numba and sklearn chatter
        output = model.fit_transform(rows)
    reducer = ModelReducer(ReduceMethod.umap, rows.shape[1], settings.dim, model, settings.seed, len(rows))
    return Fitted(reducer, np.ascontiguousarray(output, dtype=np.float32))


def _fit_tsne(rows: np.ndarray, settings: ReduceSettings) -> np.ndarray:
    manifold = optional_module("sklearn.manifold", "scikit-learn", "tsne")
    if len(rows) < 5:
        raise UsageError(f"t-SNE needs at least 5 rows, got {len(rows)}")
    model = manifold.TSNE(
        n_components=settings.dim,
        perplexity=min(settings.perplexity, (len(rows) - 1) / 3),  # must stay below the row count
        metric=settings.metric.value,
        init="pca",
        random_state=settings.seed,
    )
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # Small maps gain nothing from OpenMP threads, and their spin-waits cost 10x on a busy machine.
    threads = 1 if len(rows) < TSNE_THREADED_ROWS else None
    with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="openmp"):
        warnings.simplefilter("ignore")
        return np.ascontiguousarray(model.fit_transform(rows), dtype=np.float32)
