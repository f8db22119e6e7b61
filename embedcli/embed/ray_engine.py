"""`embed --engine ray`: the same embedding, run by a pool of Ray actors, into a shard folder or a store.

embedcli decides the work: the driver reads the records once (local files, or remote ones copied in), cuts them
into shards (`embed.shards`), and hands whole shards to actors. Each actor loads the model once and runs embedcli's
own backend and `EmbeddingRun`, so its vectors are the local engine's; it writes its part atomically, then the
part's marker. The driver writes the manifest last. A re-run skips every shard whose marker matches its content.
Into a `.lance` store the actors only embed, and the store's content-hash skipping decides what to embed.
int8/uint8 are calibrated once per run (one actor measures the first window, as the local engine does) and the
ranges go to every actor, so no shard is quantized on a scale of its own.

Ray stays quiet: no dashboard, no usage stats, worker logs not forwarded, Ray's own logging left unconfigured.
We use Ray core actors fed a bounded queue rather than Ray Data's `map_batches`: the shards must be embedcli's,
in order, streamed from a reader of unknown length, and Ray Data would re-block them and add its own progress
output; the actor pool is what `map_batches(compute=ActorPoolStrategy)` runs underneath.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from embedcli.backends.base import BackendOptions
from embedcli.backends.models import resolve_model
from embedcli.embed.into_store import embed_into_store
from embedcli.embed.pipeline import WINDOW_BATCHES, EmbeddingRun, EmbedReport, EmbedSettings
from embedcli.embed.shards import Shard, ShardFolder, cut_shards, settings_key
from embedcli.errors import EmbedcliError, InputError, ModelError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.remote import fetch_inputs, fingerprint, is_remote, list_names, make_folder, staged
from embedcli.precision import Precision
from embedcli.provenance import Provenance
from embedcli.records import Record

if TYPE_CHECKING:
    from embedcli.embed.request import EmbedOutcome, EmbedRequest

OBJECT_STORE_BYTES = 200 * 1024 * 1024
SETTLE_SECONDS = 30.0  # how long an interrupted run waits for its killed actors' shards in flight to settle
QUEUE_PER_ACTOR = 2  # shards waiting per actor: the next one is ready when the current one ends
DEFAULT_SHARD_ROWS = 8_192  # a multiple of the pipeline's window for power-of-two batch sizes


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: `address` None starts a local cluster sized to this machine, shut down after."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    shard_rows: int = DEFAULT_SHARD_ROWS


@dataclass
class ShardSummary:
    """What the sharded run did: shards in the folder, computed now, skipped as already complete."""

    total: int = 0
    computed: int = 0
    skipped: int = 0
    rows: int = 0
    workers: int = 0
    startup_seconds: float = 0.0
    actor_rows_per_second: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class WorkerSpec:
    """What each actor needs to build the same backend as the local engine (picklable)."""

    model: str | None
    backend: str | None
    backend_options: BackendOptions
    settings: EmbedSettings
    keep_text: bool
    threads: int


def require_ray() -> None:
    """Raise the one clear error when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray, which is not installed", hint="pip install 'embedcli[ray]'") from None


class ShardEmbedder:
    """The actor: loads the model once, then embeds whole shards (or lists of texts for a store)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from embedcli.embed.request import open_backend

        _set_threads(spec.threads)
        options = spec.backend_options
        if options.extra.get("threads") is None:
            options = replace(options, extra={**options.extra, "threads": spec.threads})
        self.spec = spec
        self.run = EmbeddingRun(open_backend(spec.backend, resolve_model(spec.model), options), spec.settings)

    def ready(self) -> int:
        """The model's dimension, once loaded (the driver waits on this to time the start-up)."""
        return self.run.dimension

    def calibrate(self, texts: list[str]) -> np.ndarray:
        """int8/uint8: the run's calibration ranges, measured on its first window (as the local engine does)."""
        return self.run.calibrate(texts)

    def embed_shard(self, shard: Shard, root: str, ranges: np.ndarray | None = None) -> dict[str, Any]:
        """Embed `shard` (int8/uint8 with the run's `ranges`) and write its part whole. Returns index, rows,
        seconds, provenance. The driver, not the actor, writes the shard's marker: a killed actor can outlive its
        cancelled task by a moment, and a part without a marker is only recomputed, while a marker written after
        the driver gave up would lie."""
        started = time.perf_counter()
        if ranges is not None:
            self.run.use_ranges(ranges)
        batches = list(self.run.batches(Record(i, t) for i, t in zip(shard.ids, shard.texts, strict=True)))
        provenance = self.run.provenance()
        with (
            staged(ShardFolder(root).part_path(shard.index)) as target,
            open_vector_writer(target, OutputFormat.parquet, provenance, self.spec.keep_text) as writer,
        ):
            for batch in batches:
                writer.write(batch)
        seconds = time.perf_counter() - started
        return {
            "index": shard.index,
            "rows": len(shard),
            "seconds": seconds,
            "truncated": self.run.backend.truncated,
            "provenance": provenance.to_dict(),
        }

    def embed_texts(self, texts: list[str], ranges: np.ndarray | None = None) -> np.ndarray:
        """Shaped vectors (len(texts), dimension) for a store's update (int8/uint8 with the store's `ranges`)."""
        if ranges is not None:
            self.run.use_ranges(ranges)
        return np.concatenate([b.vectors for b in self.run.batches(Record(str(i), t) for i, t in enumerate(texts))])


def _set_threads(threads: int) -> None:
    """Each actor computes with its CPU share, not the whole machine (torch and onnxruntime both read this)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(threads)


@contextlib.contextmanager
def ray_cluster(options: RayOptions) -> Iterator[tuple[int, bool]]:
    """Ray connected (to `options.address`, or a new local cluster); yields (workers to start, owned).

    A connection this call made (`owned`) is shut down when the block ends; one already initialised in this
    process (a notebook, a service, the tests) is left running.
    """
    require_ray()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    owned = not ray.is_initialized()
    # Ray logs notices (token auth, resources) through its own loggers at WARNING: the stream contract wants none.
    logging.getLogger("ray").setLevel(logging.ERROR)
    if owned:
        quiet: dict[str, Any] = {"log_to_driver": False, "configure_logging": False, "logging_level": logging.ERROR}
        if options.address:
            try:
                ray.init(address=options.address, **quiet)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types here
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UsageError(
                    f"cannot join the Ray cluster at {options.address}: {reason[:300]}",
                    hint="is it running? A cluster with token authentication needs RAY_AUTH_MODE=token here too",
                ) from None
        else:
            workers = options.workers or max(1, int((os.cpu_count() or 2) - 1) // max(1, int(options.cpus_per_worker)))
            # One CPU slot more than the actors take: reading and the driver's tasks must never wait for a slot
            # (ray-project/ray#44687, the hang when actors hold every CPU).
            cpus = math.ceil(workers * options.cpus_per_worker) + 1
            # Ray runs workers at nice 15 so a node's own services stay responsive; here the actors are the job,
            # and at 15 they yield to every other process of a shared machine (a user's setting wins).
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(
                address="local",
                num_cpus=cpus,
                object_store_memory=OBJECT_STORE_BYTES,
                include_dashboard=False,
                **quiet,
            )
    try:
        if options.workers:
            yield options.workers, owned
        else:
            free = float(ray.cluster_resources().get("CPU", 2)) - 1  # type: ignore[no-untyped-call]
            yield max(1, int(free // max(options.cpus_per_worker, 1e-9))), owned
    finally:
        if owned:
            ray.shutdown()


def embed_with_ray(
    request: EmbedRequest, options: RayOptions, on_progress: Callable[[int, int], None] | None = None
) -> EmbedOutcome:
    """Run `request` on Ray into the shard folder (or store) `request.target`. `on_progress(bytes_read, rows)`
    after each shard. Raises UsageError (no Ray, a setting the engine cannot honour), InputError (nothing to embed),
    and the actors' own embedcli errors as they are."""
    from embedcli.embed.request import EmbedOutcome

    if request.target is None:
        raise UsageError("--engine ray writes files, not stdout", hint="name a folder: -o vectors/")
    if request.output_format is OutputFormat.lance and is_remote(request.target):
        raise UsageError("a store (.lance) is a local folder", hint="write it here, then copy the folder")
    if options.shard_rows < 1:
        raise UsageError("--shard-rows must be at least 1")
    require_ray()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="embedcli-ray-") as scratch, ray_cluster(options) as (workers, owned):
        records = _InputRecords(request, scratch)
        try:
            with _actor_pool(request, options, workers, keep=not owned) as actors:
                _result_all([actor.ready.remote() for actor in actors])
                summary = ShardSummary(workers=len(actors), startup_seconds=time.perf_counter() - started)
                if request.output_format is OutputFormat.lance:
                    return _into_store(request, records, actors, summary, on_progress)
                provenance, report = _run_shards(request, options, records, actors, summary, on_progress)
        finally:
            if request.output_format is not OutputFormat.lance:
                _drop_partial(request.target)  # after the actors are stopped: none is still writing
    if summary.rows == 0:
        raise InputError(f"no text to embed ({records.skipped_blank:,} blank lines skipped)")
    report.seconds = time.perf_counter() - started - summary.startup_seconds  # the rate is the steady one
    outcome = EmbedOutcome(report, provenance, int(provenance.dimension or 0), records.skipped_blank)
    outcome.shards = summary
    return outcome


class _InputRecords:
    """The run's records in input order; remote inputs are copied to `scratch` but keep their URLs in ids."""

    def __init__(self, request: EmbedRequest, scratch: str) -> None:
        from embedcli.embed.request import record_reader

        paths, self.inputs = fetch_inputs(request.inputs, scratch)
        self.fingerprints = [fingerprint(p) for p in self.inputs]
        self.reader = record_reader(request, paths, self.inputs)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.reader)

    @property
    def bytes_read(self) -> int:
        return self.reader.bytes_read

    @property
    def skipped_blank(self) -> int:
        return self.reader.skipped_blank


# Actors kept between runs when Ray outlives one run in this process: the model stays loaded, keyed by everything
# that built it and by the Ray job (a new connection holds none of the old actors).
_KEPT: dict[str, list[Any]] = {}


@contextlib.contextmanager
def _actor_pool(request: EmbedRequest, options: RayOptions, workers: int, keep: bool) -> Iterator[list[Any]]:
    """The run's actors; killed at the end (or on any failure or Ctrl-C), unless `keep` and the run succeeded."""
    import ray

    key = repr(
        (
            ray.get_runtime_context().get_job_id(),
            request.model,
            request.backend,
            request.backend_options,
            request.settings,
            request.keep_text,
            options.cpus_per_worker,
            options.gpus_per_worker,
            workers,
        )
    )
    actors = _KEPT.pop(key, None)
    if actors is None:
        # One pool is kept at a time: another settings' actors hold the CPU slots the new ones need.
        for kept in _KEPT.values():
            _stop(kept)
        _KEPT.clear()
        actors = _start_actors(request, options, workers)
    try:
        yield actors
    except BaseException:
        _stop(actors)
        raise
    if keep:
        _KEPT[key] = actors
    else:
        _stop(actors)


def _start_actors(request: EmbedRequest, options: RayOptions, workers: int) -> list[Any]:
    import ray

    spec = WorkerSpec(
        model=request.model,
        backend=request.backend,
        backend_options=replace(request.backend_options, announce=None),  # actors never talk to the terminal
        settings=request.settings,
        keep_text=request.keep_text,
        threads=max(1, int(options.cpus_per_worker)),
    )
    remote_class = ray.remote(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker)(ShardEmbedder)
    return [remote_class.remote(spec) for _ in range(workers)]


def _stop(actors: list[Any]) -> None:
    import ray

    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)


def _settings(request: EmbedRequest) -> dict[str, Any]:
    options = request.backend_options
    return {
        "model": str(resolve_model(request.model).location) if request.model else None,
        "backend": request.backend,
        "max_length": options.max_length,
        "prompt": options.prompt,
        "quantize": options.extra.get("quantize"),
        "batch_size": request.settings.batch_size,
        "normalize": request.settings.normalize,
        "dim": request.settings.dim,
        "precision": request.settings.precision.value,
        "keep_text": request.keep_text,
    }


def _run_shards(
    request: EmbedRequest,
    options: RayOptions,
    records: _InputRecords,
    actors: list[Any],
    summary: ShardSummary,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[Provenance, EmbedReport]:
    import ray

    assert request.target is not None
    folder = ShardFolder(request.target)
    make_folder(request.target)
    folder.start()
    rows, ranges = _calibrated(request, iter(records), actors[0])
    # The ranges are part of every shard's key: a part quantized under other ranges is recomputed, not mixed in.
    extra = {} if ranges is None else {"quantization_ranges": ranges.tolist()}
    shards = cut_shards(rows, options.shard_rows, settings_key({**_settings(request), **extra}))
    entries: list[dict[str, Any]] = []
    provenance: dict[str, Any] | None = None
    report = EmbedReport()
    rates: dict[int, list[float]] = {i: [0.0, 0.0] for i in range(len(actors))}  # rows, seconds per actor

    def next_todo() -> Shard | None:
        nonlocal provenance
        for shard in shards:
            entries.append({"name": shard.name, "rows": len(shard), "first_row": shard.first_row, "key": shard.key})
            summary.total += 1
            marker = folder.done(shard)
            if marker is None:
                return shard
            summary.skipped += 1
            summary.rows += len(shard)
            provenance = provenance or marker.get("provenance")
            _progress(on_progress, records, summary.rows)
        return None

    pending: dict[Any, tuple[int, Shard]] = {}
    try:
        for _ in range(QUEUE_PER_ACTOR):
            for number, actor in enumerate(actors):
                if (shard := next_todo()) is not None:
                    pending[actor.embed_shard.remote(shard, request.target, ranges)] = (number, shard)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            number, shard = pending.pop(ref)
            result = _result(ref)
            folder.mark_done(shard, result["provenance"])
            provenance = provenance or result["provenance"]
            summary.computed += 1
            summary.rows += result["rows"]
            report.count += result["rows"]
            report.truncated = max(report.truncated, result["truncated"])
            rates[number][0] += result["rows"]
            rates[number][1] += result["seconds"]
            _progress(on_progress, records, summary.rows)
            if (shard := next_todo()) is not None:
                pending[actors[number].embed_shard.remote(shard, request.target, ranges)] = (number, shard)
    except BaseException:
        # Stop the actors and wait until their shards in flight have settled (finished, or died with the actor),
        # so nothing writes into the folder after the run has returned: a resume then finds a folder at rest.
        _stop(actors)
        if pending:
            ray.wait(list(pending), num_returns=len(pending), timeout=SETTLE_SECONDS)
        raise
    summary.actor_rows_per_second = [rows / seconds if seconds else 0.0 for rows, seconds in rates.values()]
    if provenance is not None:
        folder.finish(entries, records.fingerprints, provenance)
    return Provenance.from_dict(provenance), report


def _calibrated(request: EmbedRequest, records: Iterator[Record], actor: Any) -> tuple[Iterator[Record], Any]:
    """The records (unchanged) and, for int8/uint8, the run's calibration ranges: one actor measures them on the
    run's first window, as the local engine does on its first, so every shard is quantized alike."""
    settings = request.settings
    if settings.precision not in (Precision.int8, Precision.uint8):
        return records, None
    head = list(itertools.islice(records, settings.window or settings.batch_size * WINDOW_BATCHES))
    ranges = _result(actor.calibrate.remote([r.text for r in head])) if head else None
    return itertools.chain(head, records), ranges


def _progress(on_progress: Callable[[int, int], None] | None, records: _InputRecords, rows: int) -> None:
    if on_progress is not None:
        on_progress(records.bytes_read, rows)


def _result(ref: Any) -> Any:
    """The actor's answer; an embedcli error raised in an actor is raised here as itself, one line for the user."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, EmbedcliError):
            raise cause from None
        raise ModelError(f"a Ray worker failed: {cause or exc}") from None
    except ray.exceptions.RayActorError as exc:
        raise ModelError(f"a Ray worker died: {exc}") from None


def _result_all(refs: list[Any]) -> list[Any]:
    return [_result(ref) for ref in refs]


def _drop_partial(root: str) -> None:
    """Temporary parts of shards cut short (Ctrl-C, a failure) go; complete parts stay for the next run."""
    if is_remote(root):
        return
    for name in list_names(root):
        if name.startswith(".part-") and name.endswith(".part"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(root, name))


def _into_store(
    request: EmbedRequest,
    records: _InputRecords,
    actors: list[Any],
    summary: ShardSummary,
    on_progress: Callable[[int, int], None] | None,
) -> EmbedOutcome:
    """The store decides what needs embedding (content hashes); the actors embed it, in order."""
    from embedcli.embed.request import EmbedOutcome, open_backend

    assert request.target is not None
    # The driver's own backend only states the provenance the store checks; the vectors come from the actors.
    run = EmbeddingRun(
        open_backend(request.backend, resolve_model(request.model), request.backend_options), request.settings
    )

    def embed(texts: list[str]) -> np.ndarray:
        if run.settings.precision in (Precision.int8, Precision.uint8) and run.ranges is None and texts:
            # A new store: measured once on the first texts to embed, kept in the store, used by every actor.
            window = run.settings.window or run.settings.batch_size * WINDOW_BATCHES
            run.use_ranges(_result(actors[0].calibrate.remote(texts[:window])))
        step = max(1, math.ceil(len(texts) / len(actors)))
        refs = [
            actors[i].embed_texts.remote(texts[start : start + step], run.ranges)
            for i, start in enumerate(range(0, len(texts), step))
        ]
        return np.concatenate([_result(ref) for ref in refs]) if refs else np.empty((0, run.dimension), np.float32)

    def progress(embedded: int) -> None:
        _progress(on_progress, records, embedded)

    stored = embed_into_store(
        request.target, run, records, request.keep_text, request.store, progress, embed_texts=embed
    )
    if not stored.summary.new + stored.summary.changed + stored.summary.unchanged:
        raise InputError(f"no text to embed ({records.skipped_blank:,} blank lines skipped)")
    run.report.count = stored.summary.embedded
    run.report.seconds = stored.summary.seconds
    summary.rows = stored.summary.embedded
    outcome = EmbedOutcome(run.report, stored.provenance, run.dimension, records.skipped_blank, stored)
    outcome.shards = summary
    return outcome
