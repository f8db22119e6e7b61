"""What image and audio backends add to `Backend`: the modalities a model takes, and embedding decoded inputs.

A media backend embeds in two steps so decoding threads can do the first: `prepare_images(images)` /
`prepare_audio(clips)` turn decoded inputs into model input (resizing, normalising; thread-safe, no model call), and
`embed_prepared(prepared)` runs the model on the caller's thread. `embed_images` / `embed_audio` do both.
`media_backend_for(model)` tells which media backend a model folder needs, from its config.json, importing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from embedcli.backends.base import Backend, BackendOptions, Modality
from embedcli.backends.layers import LayerSelection, layer_options
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image


class MediaBackend(Backend):
    """A backend for a model that takes images or sounds (and, for CLIP, text in the same space).

    Every embedding method returns float32 of shape (n, dimension), row i for input i. Inputs a model does not take
    raise ModelError. `options.extra["layers"]` (see `layers.layer_options`) selects hidden states to pool.
    """

    modalities: ClassVar[frozenset[Modality]]

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        self.layers: LayerSelection | None = layer_options(options.extra)

    def embed(self, texts: list[str]) -> np.ndarray:
        raise self._refuse(Modality.text)

    def prepare_images(self, images: list[Image.Image]) -> Any:
        """Model input for decoded RGB images; safe to call from several threads at once."""
        raise self._refuse(Modality.image)

    def prepare_audio(self, clips: list[np.ndarray]) -> Any:
        """Model input for mono float32 clips at `sampling_rate`; safe to call from several threads at once."""
        raise self._refuse(Modality.audio)

    def embed_prepared(self, prepared: Any) -> np.ndarray:
        """Run the model on what `prepare_images` or `prepare_audio` returned."""
        raise ModelError(f"model '{self.model.name}' has nothing prepared to embed")

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images and Modality.image in self.modalities:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.embed_prepared(self.prepare_images(images))

    def embed_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips and Modality.audio in self.modalities:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.embed_prepared(self.prepare_audio(clips))

    @property
    def sampling_rate(self) -> int | None:
        """The sampling rate (Hz) clips must be decoded at; None for models that take no audio."""
        return None

    @property
    def min_samples(self) -> int:
        """The fewest samples a clip needs to give the model at least one frame."""
        return 1

    def describe(self) -> dict[str, Any]:
        described = {**super().describe(), "modalities": sorted(m.value for m in self.modalities)}
        if self.layers is not None:
            described["layers"] = list(self.layers.layers)
        return described

    def _refuse(self, modality: Modality) -> ModelError:
        takes = " and ".join(sorted(m.value for m in self.modalities))
        return ModelError(f"model '{self.model.name}' embeds {takes}, not {modality.value}")


# --- what the Hugging Face media backends share (quiet loading and device choice come from backends.hf) ---------


def load_failure(model: ModelRef, what: str, exc: Exception) -> ModelError:
    """One line for a model part (`what`: "model", "image processor", ...) that would not load."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = model.location if model.is_local else f"the Hugging Face cache ({model.name})"
    return ModelError(
        f"cannot load the {what} of '{model.name}' from {where}: {first_line}",
        hint="save the model folder with save_pretrained (model and processor) where there is network",
    )


def features(output: Any) -> Any:
    """A projection's tensor from CLIP-style `get_*_features`: transformers 4 returns it, 5 wraps it as
    `pooler_output`."""
    return output if hasattr(output, "dim") else output.pooler_output


# --- which backend a model folder needs ------------------------------------------------------------------------

AUDIO_MODEL_TYPES = frozenset(
    {"wav2vec2", "wav2vec2-conformer", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew"}
)
IMAGE_MODEL_TYPES = frozenset(
    {
        "resnet", "convnext", "convnextv2", "vit", "deit", "dinov2", "dinov2_with_registers", "beit", "swin",
        "swinv2", "regnet", "efficientnet", "mobilenet_v2", "levit", "poolformer", "vit_msn", "vit_mae", "dinat",
        "clip_vision_model", "siglip_vision_model", "focalnet", "bit", "van", "mobilevit", "mobilevitv2",
    }
)  # fmt: skip
DUAL_MODEL_TYPES = frozenset({"clip", "siglip", "siglip2", "chinese_clip", "altclip"})


def media_backend_for(model: ModelRef) -> str | None:
    """The media backend a model needs ("clip", "image", "audio", "xvector"), or None for a text model or one whose
    config.json cannot be read (a hub id not in the cache). Reads config.json only."""
    config = _read_config(model)
    if config is None:
        return None
    model_type = str(config.get("model_type", ""))
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith("ForXVector") for a in architectures):
        return "xvector"
    if model_type in DUAL_MODEL_TYPES:
        return "clip"
    if model_type in AUDIO_MODEL_TYPES:
        return "audio"
    if model_type in IMAGE_MODEL_TYPES:
        return "image"
    return None


def _read_config(model: ModelRef) -> dict[str, Any] | None:
    path: Path | None = Path(model.location) / "config.json" if model.is_local else None
    if path is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model.location, "config.json")
        except Exception:
            return None
        path = Path(cached) if isinstance(cached, str) else None
    if path is None or not path.is_file():
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
