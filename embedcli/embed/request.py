"""What one `embed` run is asked (`EmbedRequest`) and what it did (`EmbedOutcome`); `open_backend` loads a
backend for a model. Shared by the local engine (`run`) and the Ray engine (`ray_engine`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from embedcli.backends import choose_backend, create_backend
from embedcli.backends.base import Backend, BackendOptions
from embedcli.backends.models import ModelRef
from embedcli.embed.into_store import StoreOptions, StoreOutcome
from embedcli.embed.media import (
    MediaOptions,
)
from embedcli.embed.pipeline import EmbedReport, EmbedSettings
from embedcli.formats import OutputFormat
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader
from embedcli.formats.word_vectors import load_word_vectors
from embedcli.provenance import Provenance

if TYPE_CHECKING:
    from embedcli.embed.chunked import ChunkSummary
    from embedcli.embed.chunking import ChunkOptions
    from embedcli.embed.ray_engine import RayOptions, ShardSummary


def open_backend(name: str | None, model: ModelRef, options: BackendOptions) -> Backend:
    """The backend `name` (or the default for `model`) with the model loaded.

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
    glob: str | None = None  # the files of folder inputs to read as documents (None: by suffix)
    model: str | None = None
    backend: str | None = None
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    settings: EmbedSettings = field(default_factory=EmbedSettings)
    keep_text: bool = True
    store: StoreOptions = field(default_factory=StoreOptions)
    media: MediaOptions = field(default_factory=MediaOptions)
    ray: RayOptions | None = None  # None: the local engine; else run on Ray into a shard folder or a store
    chunking: ChunkOptions | None = None  # --chunk: documents cut into token chunks (embed.chunked)


@dataclass
class EmbedOutcome:
    """What a finished run did: the report (counts, time, notes), the recorded provenance, skipped lines, and how
    many invalid byte sequences `--errors replace` replaced.

    For images and sounds: `modality`, `rejected` (files left out by `--on-error skip`: label, reason) and
    `skipped_files` (files in walked folders that were not of the kind embedded).
    """

    report: EmbedReport
    provenance: Provenance
    dimension: int
    skipped_blank: int
    store: StoreOutcome | None = None  # set when the output was a store
    replaced: int = 0
    modality: str = "text"
    rejected: list[tuple[str, str]] = field(default_factory=list)
    skipped_files: int = 0
    shards: ShardSummary | None = None  # set by --engine ray
    chunks: ChunkSummary | None = None  # set by --chunk
    encodings: dict[str, str] = field(default_factory=dict)  # input -> encoding told by --encoding auto


def record_reader(request: EmbedRequest, paths: list[str], labels: list[str] | None = None) -> RecordReader:
    """The reader of `request`'s text inputs at local `paths` (remote ones already fetched), named by `labels`
    (their URLs) when given: one place for both engines, so they read inputs the same way."""
    return RecordReader(
        paths,
        texts=list(request.texts),
        decoding=request.decoding,
        input_format=request.input_format,
        fields=request.fields,
        glob=request.glob,
        labels=labels,
        # A store keys rows by id: plain-text lines get file:line ids even from one file.
        name_ids=request.output_format is OutputFormat.lance and request.fields.id_field is None,
    )
