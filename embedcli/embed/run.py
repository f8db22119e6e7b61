"""One `embed` run: open the backend, read records, embed them in batches and write them to one output.

The command builds an `EmbedRequest` and calls `EmbedJob(request).run()`; everything between reading and writing
happens here, so the CLI only parses, shows progress and words the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from embedcli.backends import choose_backend, create_backend
from embedcli.backends.base import Backend, BackendOptions
from embedcli.backends.models import ModelRef, resolve_model
from embedcli.embed.into_store import StoreOptions, StoreOutcome, embed_into_store
from embedcli.embed.pipeline import EmbeddingRun, EmbedReport, EmbedSettings
from embedcli.errors import InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader
from embedcli.formats.word_vectors import load_word_vectors
from embedcli.provenance import Provenance


def open_backend(name: str | None, model: ModelRef, options: BackendOptions) -> Backend:
    """The backend `name` (or the default for `model`: `auto`, word-vectors for a file) with the model loaded.

    Word-vector files are read here, through `formats`, and handed to the word-vectors backend, so backends never
    read files of embedcli's own formats. Raises UsageError (unknown backend) or ModelError (cannot load).
    """
    chosen = choose_backend(name, model)
    if chosen == "word-vectors" and "keyed_vectors" not in options.extra:
        options = replace(options, extra={**options.extra, "keyed_vectors": load_word_vectors(model.location)})
    return create_backend(chosen, model, options)


@dataclass(frozen=True)
class EmbedRequest:
    """Everything one `embed` run needs: where texts come from, how they are embedded, where vectors go.

    `target` None means stdout. `backend_options.extra["quantize"]` other than "none" needs the onnx backend.
    """

    inputs: list[str]
    target: str | None
    output_format: OutputFormat
    texts: list[str] = field(default_factory=list)
    decoding: Decoding = field(default_factory=Decoding)
    input_format: Any = None
    fields: FieldSpec = field(default_factory=FieldSpec)
    model: str | None = None
    backend: str | None = None
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    settings: EmbedSettings = field(default_factory=EmbedSettings)
    keep_text: bool = True
    store: StoreOptions = field(default_factory=StoreOptions)


@dataclass
class EmbedOutcome:
    """What a finished run did: the report (counts, time, notes), the recorded provenance, and skipped lines."""

    report: EmbedReport
    provenance: Provenance
    dimension: int
    skipped_blank: int
    store: StoreOutcome | None = None  # set when the output was a store


class EmbedJob:
    """A run prepared but not started: `total_bytes` sizes a progress bar before `run()` reads anything."""

    def __init__(self, request: EmbedRequest) -> None:
        self.request = request
        self.reader = RecordReader(
            request.inputs,
            texts=list(request.texts),
            decoding=request.decoding,
            input_format=request.input_format,
            fields=request.fields,
            # A store keys rows by id: plain-text lines get file:line ids even from one file.
            name_ids=request.output_format is OutputFormat.lance and request.fields.id_field is None,
        )

    @property
    def total_bytes(self) -> int | None:
        return self.reader.total_bytes

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> EmbedOutcome:
        """Embed every record and write the output whole. `on_progress(bytes_read, texts_embedded)` after each
        batch. Raises InputError when there is nothing to embed; the output then does not appear."""
        request, reader = self.request, self.reader
        model_ref = resolve_model(request.model)
        backend_name = choose_backend(request.backend, model_ref)
        # auto honours --quantize by choosing onnx: int8 stays opt-in, but needs no --backend.
        if request.backend_options.extra.get("quantize", "none") != "none" and backend_name not in ("onnx", "auto"):
            raise UsageError("--quantize needs --backend onnx")
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
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped)")
        with open_vector_writer(request.target, request.output_format, run.provenance(), request.keep_text) as writer:
            writer.write(first)
            for batch in batches:
                writer.write(batch)
        return EmbedOutcome(run.report, run.provenance(), run.dimension, reader.skipped_blank)

    def _into_store(self, run: EmbeddingRun, path: str, on_progress: Callable[[int, int], None] | None) -> EmbedOutcome:
        reader = self.reader

        def progress(embedded: int) -> None:
            if on_progress is not None:
                on_progress(reader.bytes_read, embedded)

        request = self.request
        stored = embed_into_store(path, run, reader, request.keep_text, request.store, progress)
        if not stored.summary.new + stored.summary.changed + stored.summary.unchanged:
            raise InputError(f"no text to embed ({_count(reader.skipped_blank, 'blank line')} skipped)")
        run.report.count = stored.summary.embedded
        run.report.seconds = stored.summary.seconds
        return EmbedOutcome(run.report, stored.provenance, run.dimension, reader.skipped_blank, stored)


def _count(n: int, noun: str) -> str:
    # The one message worded here is an error; the CLI words summaries.
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
