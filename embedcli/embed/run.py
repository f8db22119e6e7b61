"""One `embed` run: open the backend, read records, embed them in batches and write them to one output.

The command builds an `EmbedRequest` and calls `EmbedJob(request).run()`; everything between reading and writing
happens here, so the CLI only parses, shows progress and words the outcome.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from embedcli.backends import choose_backend
from embedcli.backends.models import ModelRef, resolve_model
from embedcli.embed.into_store import embed_into_store
from embedcli.embed.media import (
    MediaInputs,
    is_media_request,
    media_batches,
    media_inputs,
    write_rejects,
)
from embedcli.embed.pipeline import EmbeddingRun, EmbedReport
from embedcli.embed.request import EmbedOutcome, EmbedRequest, open_backend
from embedcli.errors import InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.text_inputs import RecordReader

if TYPE_CHECKING:
    pass


class EmbedJob:
    """A run prepared but not started: `total_bytes` sizes a progress bar before `run()` reads anything."""

    def __init__(self, request: EmbedRequest) -> None:
        self.request = request
        self.media: MediaInputs | None = None
        # --engine ray reads its inputs itself (they may be remote), after the cluster is up.
        self.reader: RecordReader | None = None
        if request.ray is not None:
            return
        if is_media_request(request.inputs, request.media):
            # Listed now (the kind comes from the model's config.json), so the progress bar counts files.
            backend_name = choose_backend(request.backend, resolve_model(request.model))
            self.media = media_inputs(request.inputs, request.media, backend_name)
            return
        self.reader = RecordReader(
            request.inputs,
            texts=list(request.texts),
            decoding=request.decoding,
            input_format=request.input_format,
            fields=request.fields,
            glob=request.glob,
            # A store keys rows by id: plain-text lines get file:line ids even from one file.
            name_ids=request.output_format is OutputFormat.lance and request.fields.id_field is None,
        )

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
        batch. Raises InputError when there is nothing to embed; the output then does not appear."""
        request, reader = self.request, self.reader
        if request.chunking is not None and (request.ray is not None or self.media is not None):
            raise UsageError("--chunk cuts texts, on the local engine", hint="drop --chunk (or --engine ray)")
        if request.ray is not None:
            from embedcli.embed.ray_engine import embed_with_ray

            return embed_with_ray(request, request.ray, on_progress)
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

            return embed_chunked(request, open_backend(backend_name, model_ref, request.backend_options), on_progress)
        run = EmbeddingRun(open_backend(backend_name, model_ref, request.backend_options), request.settings)
        if request.output_format is OutputFormat.lance:
            assert request.target is not None  # the resolver refuses a store on stdout
            return self._into_store(run, request.target, on_progress)

        def progress(report: EmbedReport) -> None:
            if on_progress is not None:
                on_progress(reader.bytes_read, report.count)

        batches = run.batches(reader, progress)
        # The first batch comes before the writer: its metadata (int8 ranges) is known only then, and an input
        # with no text must leave no output behind.
        first = next(batches, None)
        if first is None:
            files = f", {_count(reader.skipped_files, 'file')} in folders left out" if reader.skipped_files else ""
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped{files})")
        with open_vector_writer(request.target, request.output_format, run.provenance(), request.keep_text) as writer:
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
        )

    def _media(
        self,
        inputs: MediaInputs,
        backend_name: str,
        model_ref: ModelRef,
        on_progress: Callable[[int, int], None] | None,
    ) -> EmbedOutcome:
        request = self.request
        if request.output_format is OutputFormat.lance:
            raise UsageError("images and sounds go to a vector file, not a store (yet)", hint="write -o NAME.parquet")
        backend = open_backend(backend_name, model_ref, request.backend_options)
        run = EmbeddingRun(backend, request.settings, modality=inputs.kind.value)
        rejected: list[tuple[str, str]] = []
        batches = media_batches(run, inputs, request.media, request.settings.batch_size, rejected)
        first = next(batches, None)
        if first is None:
            raise InputError(f"no {inputs.kind.value} could be embedded ({_count(len(rejected), 'file')} rejected)")
        # Media rows have no text: the id (the file's path) names each row.
        with open_vector_writer(request.target, request.output_format, run.provenance(), False) as writer:
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

    def _into_store(self, run: EmbeddingRun, path: str, on_progress: Callable[[int, int], None] | None) -> EmbedOutcome:
        reader = self.reader
        assert reader is not None

        def progress(embedded: int) -> None:
            if on_progress is not None:
                on_progress(reader.bytes_read, embedded)

        request = self.request
        stored = embed_into_store(path, run, reader, request.keep_text, request.store, progress)
        if not stored.summary.new + stored.summary.changed + stored.summary.unchanged:
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped)")
        run.report.count = stored.summary.embedded
        run.report.seconds = stored.summary.seconds
        return EmbedOutcome(
            run.report, stored.provenance, run.dimension, reader.skipped_blank, stored, replaced=reader.replaced
        )


def _count(n: int, noun: str) -> str:
    # The one message worded here is an error; the CLI words summaries.
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


__all__ = ["EmbedJob", "EmbedOutcome", "EmbedRequest", "open_backend"]
