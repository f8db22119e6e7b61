"""The backend registry: built-in backends by name, plus third-party ones from the `embedcli.backends`
entry-point group. Listing names imports nothing heavy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from embedcli.backends.models import ModelRef, ModelSource
from embedcli.errors import ModelError, UsageError

if TYPE_CHECKING:
    from embedcli.backends.base import Backend, BackendOptions

ENTRY_POINT_GROUP = "embedcli.backends"
# The default: the cached onnx export where the model exports faithfully, else sentence-transformers (backends.auto).
DEFAULT_BACKEND = "auto"

BUILTIN_BACKENDS: dict[str, str] = {
    "auto": "embedcli.backends.auto:open_auto",
    "sentence-transformers": "embedcli.backends.sentence_transformers:SentenceTransformerBackend",
    "transformers": "embedcli.backends.transformers:TransformersBackend",
    "word-vectors": "embedcli.backends.word_vectors:WordVectorBackend",
    "onnx": "embedcli.backends.onnx.runtime:OnnxBackend",
    "clip": "embedcli.backends.images:ClipBackend",
    "image": "embedcli.backends.images:ImageEncoderBackend",
    "audio": "embedcli.backends.audio:AudioEncoderBackend",
    "xvector": "embedcli.backends.audio:XVectorBackend",
}


def _plugin_backends() -> dict[str, str]:
    from importlib.metadata import entry_points  # slow to import; --help never needs it

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """Every backend name a user may pass to --backend."""
    return [*BUILTIN_BACKENDS, *(n for n in _plugin_backends() if n not in BUILTIN_BACKENDS)]


def choose_backend(name: str | None, model: ModelRef) -> str:
    """The backend to use: the one named, else word vectors for a model file, else the media backend an image or
    audio model's config.json calls for, else `auto` (which picks onnx or sentence-transformers when the model is
    loaded)."""
    if name and name != DEFAULT_BACKEND:
        return name
    if model.source is ModelSource.file:
        return "word-vectors"
    from embedcli.backends.media_base import media_backend_for  # reads config.json only; imports no model library

    media = media_backend_for(model)
    if media is not None:
        return media
    return DEFAULT_BACKEND


def backend_class(name: str) -> type[Backend]:
    target = BUILTIN_BACKENDS.get(name) or _plugin_backends().get(name)
    if target is None:
        raise UsageError(f"unknown backend '{name}'; choose one of: {', '.join(backend_names())}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(
            f"backend '{name}' cannot be loaded: {exc}", hint=f"install what it needs ({exc.name})"
        ) from None
    return getattr(module, class_name)


def create_backend(name: str, model: ModelRef, options: BackendOptions) -> Backend:
    """Instantiate backend `name` for `model`: the model is loaded here. `auto` returns the backend it chose."""
    if name == DEFAULT_BACKEND:
        from embedcli.backends.auto import open_auto

        return open_auto(model, options)
    return backend_class(name)(model, options)
