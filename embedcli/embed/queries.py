"""Re-embedding text queries for `similar`: as the corpus was embedded (its metadata), or with a chosen model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embedcli.backends import choose_backend
from embedcli.backends.base import Backend, BackendOptions
from embedcli.backends.models import ModelRef, resolve_model
from embedcli.embed.media import MediaInputs, MediaItem, MediaOptions, media_batches
from embedcli.embed.pipeline import EmbeddingRun, EmbedSettings
from embedcli.embed.request import open_backend
from embedcli.errors import InputError, UsageError
from embedcli.formats.media import MediaKind
from embedcli.provenance import SENTENCE_FAMILY, Provenance
from embedcli.records import Record


@dataclass(frozen=True)
class ModelChoice:
    """How text queries are embedded: by default the model the corpus records; --model/--backend override."""

    model: str | None = None
    backend: str | None = None
    prompt: str | None = None
    batch_size: int = 32
    announce: Callable[[str], None] | None = None  # told of slow one-time work (the first ONNX export of a model)


def _query_model(recorded: str | None, choice: ModelChoice, corpus_name: str, queries: str, hint: str) -> ModelRef:
    """The model that embeds `queries` for a corpus: `choice.model`, else the one the corpus records (`recorded`);
    UsageError naming the corpus when there is neither."""
    if choice.model is None and not recorded:
        raise UsageError(
            f"{corpus_name} does not record the model that made it, so {queries} cannot be embedded", hint=hint
        )
    return resolve_model(choice.model or recorded)


def embed_query_texts(
    texts: list[str], provenance: Provenance, corpus_name: str, dimension: int, choice: ModelChoice
) -> tuple[np.ndarray, list[str]]:
    """Embed `texts` as the corpus was embedded; returns float32 vectors and warnings. Raises UsageError when the
    corpus records no model and none is given."""
    meta = provenance
    warnings: list[str] = []
    recorded = meta.model
    model_ref = _query_model(
        recorded,
        choice,
        corpus_name,
        "text queries",
        "pass --model (and --backend) naming that model, or give --queries as vectors",
    )
    if choice.model and recorded and resolve_model(recorded).location != model_ref.location:
        warnings.append(f"{corpus_name} was embedded with {recorded}, queries with {choice.model}: scores may mislead")
    backend_name = choice.backend or (_query_backend(meta) if not choice.model else None)
    if choose_backend(backend_name, model_ref) in ("image", "audio", "xvector"):
        raise UsageError(
            f"{corpus_name} holds {meta.modality or 'image or audio'} vectors of {model_ref.name}, a model with no "
            "text side: text queries cannot be compared with them",
            hint="query with a file of the same kind (--queries FILE), or embed the corpus with a CLIP model",
        )
    prompt = choice.prompt if choice.prompt is not None else meta.prompt
    same_model = not choice.model
    # Re-embed as the corpus was embedded: its length limit and, for onnx, its quantization.
    options = BackendOptions(
        batch_size=choice.batch_size,
        prompt=prompt,
        max_length=meta.max_length if same_model else None,
        extra={"quantize": meta.quantize} if same_model and meta.quantize else {},
        announce=choice.announce,
    )
    backend = open_backend(backend_name, model_ref, options)
    dim = meta.truncate_dim if not choice.model else None
    if backend.dimension < (dim or 0):
        dim = None
    run = EmbeddingRun(backend, EmbedSettings(batch_size=choice.batch_size, normalize=bool(meta.normalized), dim=dim))
    records = [Record(str(i), t) for i, t in enumerate(texts, start=1)]
    vectors = np.concatenate([b.vectors for b in run.batches(records)])
    if vectors.shape[1] != dimension:
        raise InputError(
            f"the query model {model_ref.name} makes {vectors.shape[1]}-d vectors, the corpus has {dimension}-d",
            hint="embed the queries with the corpus's model (drop --model)",
        )
    return vectors, warnings + backend.notes()


def embed_query_media(
    paths: list[str], kind: MediaKind, provenance: Provenance, corpus_name: str, dimension: int, choice: ModelChoice
) -> np.ndarray:
    """Embed image or audio query files with the model the corpus records (or `choice.model`), shaped as the corpus
    was (normalisation, truncation). Returns float32 (len(paths), dimension); InputError for a bad file or one the
    model cannot take, or a dimension that differs from the corpus's."""
    model_ref = _query_model(
        provenance.model, choice, corpus_name, "image and audio queries", "pass --model naming that model"
    )
    backend: Backend = open_backend(
        choice.backend or (provenance.backend if not choice.model else None),
        model_ref,
        BackendOptions(batch_size=choice.batch_size, extra={"layers": provenance.layers}),
    )
    dim = provenance.truncate_dim if not choice.model else None
    settings = EmbedSettings(batch_size=choice.batch_size, normalize=bool(provenance.normalized), dim=dim)
    run = EmbeddingRun(backend, settings, modality=kind.value)
    inputs = MediaInputs([MediaItem(p, p, p) for p in paths], kind)
    vectors = np.concatenate([b.vectors for b in media_batches(run, inputs, MediaOptions(), choice.batch_size, [])])
    if vectors.shape[1] != dimension:
        raise InputError(
            f"the query model {model_ref.name} makes {vectors.shape[1]}-d vectors, the corpus has {dimension}-d"
        )
    return vectors


def _query_backend(meta: Provenance) -> str | None:
    """The backend for queries against a corpus: any of its family. fp32 onnx and sentence-transformers give the
    same vectors, so the default (auto: the fast path where it exists) serves both; others as recorded."""
    return None if meta.family == SENTENCE_FAMILY else meta.backend
