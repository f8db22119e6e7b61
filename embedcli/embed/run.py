"""One `embed` run: open the backend, read records, embed them in batches and write them to one output.

The command builds an `EmbedRequest` and calls `EmbedJob(request).run()`; everything between reading and writing
happens here, so the CLI only parses, shows progress and words the outcome.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from embedcli.backends import choose_backend
from embedcli.backends.models import ModelRef, resolve_model
from embedcli.embed.into_store import embed_into_store
from embedcli.embed.media import (
    MediaInputs,
    embed_items,
    file_digest,
    is_media_request,
    media_batches,
    media_inputs,
    write_rejects,
)
from embedcli.embed.pipeline import EmbeddingRun, EmbedReport
from embedcli.embed.request import EmbedOutcome, EmbedRequest, open_backend, record_reader
from embedcli.errors import InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.lance_store import HASH
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.remote import fetch_inputs, is_remote, staged
from embedcli.formats.text_inputs import RecordReader
from embedcli.records import Record

if TYPE_CHECKING:
    pass


class EmbedJob:
    """A run prepared but not started: `total_bytes` sizes a progress bar before `run()` reads anything."""

    def __init__(self, request: EmbedRequest) -> None:
        self.request = request
        self.media: MediaInputs | None = None
        # --engine ray reads its inputs itself (they may be remote), after the cluster is up.
        self.reader: RecordReader | None = None
        if request.fields.keep_columns:
            _check_kept_columns(request)
        if request.ray is not None:
            return
        if request.output_format is OutputFormat.lance and request.target is not None and is_remote(request.target):
            raise UsageError("a store (.lance) is a local folder", hint="write it here, then copy the folder")
        if any(is_remote(p) for p in request.inputs):
            # Read in run(), once the remote inputs are listed and copied in; remote media are not read (yet).
            if is_media_request([], request.media):
                raise UsageError("images and sounds are read from local files", hint="copy them here first")
            return
        if is_media_request(request.inputs, request.media):
            # Listed now (the kind comes from the model's config.json), so the progress bar counts files.
            backend_name = choose_backend(request.backend, resolve_model(request.model))
            self.media = media_inputs(request.inputs, request.media, backend_name)
            return
        self.reader = record_reader(request, request.inputs)

    @property
    def total_bytes(self) -> int | None:
        """Bytes of text to read, or the number of image/audio files."""
        if self.media is not None:
            return len(self.media.items)
        if self.reader is None:
            local = not any("://" in p for p in self.request.inputs)
            return sum(os.path.getsize(p) for p in self.request.inputs) if local and self.request.inputs else None
        return self.reader.total_bytes

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> EmbedOutcome:
        """Embed every record and write the output whole. `on_progress(bytes_read, texts_embedded)` after each
        batch. Raises InputError when there is nothing to embed; the output then does not appear.

        Remote inputs (s3://, gs://, any fsspec URL) are copied to a temporary folder first and keep their URLs in
        ids; a remote output is written locally, then uploaded in one PUT."""
        request = self.request
        if request.chunking is not None and (request.ray is not None or self.media is not None):
            raise UsageError("--chunk cuts texts, on the local engine", hint="drop --chunk (or --engine ray)")
        if request.ray is not None:
            from embedcli.embed.ray_engine import embed_with_ray

            return embed_with_ray(request, request.ray, on_progress)
        if self.reader is None and self.media is None:
            with tempfile.TemporaryDirectory(prefix="embedcli-inputs-") as scratch:
                self.reader = record_reader(request, *fetch_inputs(request.inputs, scratch))
                return self._run(on_progress)
        return self._run(on_progress)

    def _run(self, on_progress: Callable[[int, int], None] | None) -> EmbedOutcome:
        request, reader = self.request, self.reader
        model_ref = resolve_model(request.model)
        backend_name = choose_backend(request.backend, model_ref)
        # auto honours --quantize by choosing onnx: int8 stays opt-in, but needs no --backend.
        if request.backend_options.extra.get("quantize", "none") != "none" and backend_name not in ("onnx", "auto"):
            raise UsageError("--quantize needs --backend onnx")
        if self.media is not None:
            return self._media(self.media, backend_name, model_ref, on_progress)
        assert reader is not None
        if request.backend_options.extra.get("layers") is not None and backend_name != "transformers":
            raise UsageError("--layer/--layers on texts need --backend transformers (or an image or audio model)")
        if request.chunking is not None:
            from embedcli.embed.chunked import embed_chunked

            backend = open_backend(backend_name, model_ref, request.backend_options)
            return embed_chunked(request, backend, reader, on_progress)
        run = EmbeddingRun(open_backend(backend_name, model_ref, request.backend_options), request.settings)
        if request.output_format is OutputFormat.lance:
            assert request.target is not None  # the resolver refuses a store on stdout
            return self._into_store(run, request.target, on_progress)

        def progress(report: EmbedReport) -> None:
            if on_progress is not None:
                on_progress(reader.bytes_read, report.count)

        batches = run.batches(reader, progress, reader.column_names)
        # The first batch comes before the writer: its metadata (int8 ranges) is known only then, and an input
        # with no text must leave no output behind.
        first = next(batches, None)
        if first is None:
            files = f", {_count(reader.skipped_files, 'file')} in folders left out" if reader.skipped_files else ""
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped{files})")
        with (
            staged(request.target) as target,
            open_vector_writer(target, request.output_format, run.provenance(), request.keep_text) as writer,
        ):
            writer.write(first)
            for batch in batches:
                writer.write(batch)
        return EmbedOutcome(
            run.report,
            run.provenance(),
            run.dimension,
            reader.skipped_blank,
            replaced=reader.replaced,
            skipped_files=reader.skipped_files,
            encodings=reader.encodings,
        )

    def _media(
        self,
        inputs: MediaInputs,
        backend_name: str,
        model_ref: ModelRef,
        on_progress: Callable[[int, int], None] | None,
    ) -> EmbedOutcome:
        request = self.request
        if request.output_format is OutputFormat.lance and request.media.skip_bad:
            raise UsageError(
                "--on-error skip leaves files out, but a store keeps one row per input file",
                hint="fix or remove the bad files, or write -o NAME.parquet",
            )
        backend = open_backend(backend_name, model_ref, request.backend_options)
        run = EmbeddingRun(backend, request.settings, modality=inputs.kind.value, media_root=inputs.root)
        if request.output_format is OutputFormat.lance:
            return self._media_into_store(run, inputs, on_progress)
        rejected: list[tuple[str, str]] = []
        batches = media_batches(run, inputs, request.media, request.settings.batch_size, rejected)
        first = next(batches, None)
        if first is None:
            raise InputError(f"no {inputs.kind.value} could be embedded ({_count(len(rejected), 'file')} rejected)")
        # Media rows have no text: the id (the file's path) names each row.
        with (
            staged(request.target) as target,
            open_vector_writer(target, request.output_format, run.provenance(), False) as writer,
        ):
            for batch in itertools.chain([first], batches):
                writer.write(batch)
                if on_progress is not None:
                    on_progress(run.report.count + len(rejected), run.report.count)
        if request.media.rejects is not None:
            write_rejects(request.media.rejects, rejected)
        return EmbedOutcome(
            run.report,
            run.provenance(),
            run.dimension,
            0,
            modality=inputs.kind.value,
            rejected=rejected,
            skipped_files=inputs.skipped_files,
        )

    def _media_into_store(
        self, run: EmbeddingRun, inputs: MediaInputs, on_progress: Callable[[int, int], None] | None
    ) -> EmbedOutcome:
        """Images or sounds into a store: each file is a record whose text is its position in `inputs` (a handle,
        never stored: media rows keep no text) and whose hash is that of its bytes, so unchanged files are skipped."""
        request = self.request
        assert request.target is not None  # the resolver refuses a store on stdout
        records = (Record(item.id, str(position)) for position, item in enumerate(inputs.items))

        def digest(handle: str) -> str:
            return file_digest(inputs.items[int(handle)].source)

        def embed(handles: list[str]) -> np.ndarray:
            positions = [int(h) for h in handles]
            batches = embed_items(run, inputs, request.media, request.settings.batch_size, positions)
            return np.concatenate([b.vectors for b in batches])

        def progress(embedded: int) -> None:
            if on_progress is not None:
                on_progress(embedded, embedded)

        stored = embed_into_store(
            request.target, run, records, False, request.store, progress, embed_texts=embed, digest=digest,
            embed_rows=request.settings.batch_size * 8,
        )  # fmt: skip
        run.report.count = stored.summary.embedded
        run.report.seconds = stored.summary.seconds
        return EmbedOutcome(
            run.report, stored.provenance, run.dimension, 0, stored, modality=inputs.kind.value,
            skipped_files=inputs.skipped_files,
        )  # fmt: skip

    def _into_store(self, run: EmbeddingRun, path: str, on_progress: Callable[[int, int], None] | None) -> EmbedOutcome:
        reader = self.reader
        assert reader is not None

        def progress(embedded: int) -> None:
            if on_progress is not None:
                on_progress(reader.bytes_read, embedded)

        request = self.request
        kept = request.fields.keep_columns
        stored = embed_into_store(path, run, reader, request.keep_text, request.store, progress, kept=kept)
        if not stored.summary.new + stored.summary.changed + stored.summary.unchanged:
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped)")
        run.report.count = stored.summary.embedded
        run.report.seconds = stored.summary.seconds
        return EmbedOutcome(
            run.report, stored.provenance, run.dimension, reader.skipped_blank, stored, replaced=reader.replaced
        )


def _check_kept_columns(request: EmbedRequest) -> None:
    """Refuse --keep-columns where the kept values would have nowhere to go, before a model is loaded."""
    if request.output_format is OutputFormat.npy:
        raise UsageError(
            "--keep-columns: an NPY file holds only the vectors, with no room for other columns",
            hint="write .parquet, .arrow or .jsonl (or drop --keep-columns and join on the row order)",
        )
    if request.output_format is OutputFormat.lance and HASH in request.fields.keep_columns:
        raise UsageError(
            f"--keep-columns: '{HASH}' is a column a store writes itself",
            hint="a store already has id, text, content_hash and embedding; keep other columns",
        )
    if request.ray is not None:
        raise UsageError("--keep-columns works with the local engine only (yet)", hint="drop --engine ray")
    if is_media_request(request.inputs, request.media):
        raise UsageError("--keep-columns applies to text inputs", hint="images and sounds keep their path as the id")


def _count(n: int, noun: str) -> str:
    # The one message worded here is an error; the CLI words summaries.
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


__all__ = ["EmbedJob", "EmbedOutcome", "EmbedRequest", "open_backend"]
