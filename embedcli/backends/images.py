"""Image backends: CLIP-style dual encoders (text and images in one space) and transformers image encoders.

`ClipBackend` embeds images with `get_image_features` and texts with `get_text_features`, so a sentence finds
photos. `ImageEncoderBackend` embeds images with a ResNet, ConvNeXt, ViT, DINOv2 (any `AutoModel` vision model): its
pooled output, or the pooled hidden states of the layers selected with `options.extra["layers"]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from embedcli.backends.base import BackendOptions, Modality
from embedcli.backends.hf import quiet_hugging_face, text_batches, torch_device
from embedcli.backends.layers import selected_states
from embedcli.backends.media_base import MediaBackend, features, load_failure
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

# Architectures whose image vector is the first token (CLS) of a (batch, tokens, dim) state; others average tokens.
CLS_MODEL_TYPES = frozenset(
    {"vit", "deit", "dinov2", "dinov2_with_registers", "vit_msn", "vit_mae", "clip_vision_model", "ijepa"}
)


class _ImageModel(MediaBackend):
    """Loading and batching shared by the image backends."""

    _image_processor: Any

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        quiet_hugging_face()
        import torch

        self._torch = torch
        self._device = torch_device(options.device)

    def prepare_images(self, images: list[Image.Image]) -> Any:
        try:
            return self._image_processor(images=images, return_tensors="pt")["pixel_values"]
        except Exception as exc:
            raise ModelError(f"model '{self.model.name}': the image processor failed: {exc}") from None

    def embed_prepared(self, prepared: Any) -> np.ndarray:
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        size = self.options.batch_size
        for start in range(0, len(prepared), size):
            pixels = prepared[start : start + size].to(self._device)
            with self._torch.inference_mode():
                try:
                    vectors = self._image_vectors(pixels)
                except (RuntimeError, ValueError) as exc:
                    raise ModelError(f"model '{self.model.name}' failed on a batch of images: {exc}") from None
            out[start : start + size] = vectors.float().cpu().numpy()
        return out

    def _image_vectors(self, pixels: Any) -> Any:
        raise NotImplementedError


class ClipBackend(_ImageModel):
    """A CLIP folder (or another dual encoder with `get_text_features` and `get_image_features`)."""

    name = "clip"
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.text, Modality.image})

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        if self.layers is not None:
            raise ModelError(
                f"model '{model.name}' puts text and images in one space only at its output: "
                "--layer/--layers do not apply to it"
            )
        from transformers import AutoModel, AutoProcessor

        try:
            self._model = AutoModel.from_pretrained(model.location, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, "model", exc) from None
        try:
            processor = AutoProcessor.from_pretrained(model.location, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, "processor (tokenizer and image processor)", exc) from None
        if not hasattr(self._model, "get_image_features") or not hasattr(self._model, "get_text_features"):
            raise ModelError(f"model '{model.name}' is not a text-and-image model (no get_image_features)")
        self._image_processor = processor.image_processor
        self._tokenizer = processor.tokenizer
        self._model.to(self._device).eval()
        text_config = getattr(self._model.config, "text_config", None)
        positions = getattr(text_config, "max_position_embeddings", None)
        self._limit = options.max_length or positions

    @property
    def dimension(self) -> int:
        config = self._model.config
        return int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)

    @property
    def max_length(self) -> int | None:
        return self._limit

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts in the images' space, shape (len(texts), dimension); texts over the limit are cut and counted."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        over, batches = text_batches(self._tokenizer, texts, self.options.batch_size, self._limit, self._device)
        self.truncated += over
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for indices, batch in batches:
            with self._torch.inference_mode():
                try:
                    vectors = features(self._model.get_text_features(**batch))
                except (RuntimeError, IndexError) as exc:
                    raise ModelError(f"model '{self.model.name}' failed on a batch of texts: {exc}") from None
            out[indices] = vectors.float().cpu().numpy()
        return out

    def _image_vectors(self, pixels: Any) -> Any:
        return features(self._model.get_image_features(pixel_values=pixels))


class ImageEncoderBackend(_ImageModel):
    """A transformers image encoder loaded with AutoModel: ResNet, ConvNeXt, ViT, DINOv2 and the like.

    Without layers: `pooler_output` where the model has a trained pooler, else its last state pooled as below.
    With layers: the mean of the selected hidden states, pooled: a CNN's (batch, channels, h, w) map is averaged
    over h and w; a transformer's (batch, tokens, dim) states give their CLS token (ViT, DINOv2) or their mean.
    """

    name = "image"
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.image})

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        from transformers import AutoImageProcessor, AutoModel

        try:
            self._model, info = AutoModel.from_pretrained(
                model.location, local_files_only=model.is_local, output_loading_info=True
            )
        except Exception as exc:
            raise load_failure(model, "model", exc) from None
        try:
            self._image_processor = AutoImageProcessor.from_pretrained(model.location, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, "image processor", exc) from None
        self._model.to(self._device).eval()
        # A checkpoint saved without a pooler (DINO ViTs, MAE) gets a randomly initialised one from AutoModel.
        self._use_pooler = not any(key.startswith("pooler.") for key in info.get("missing_keys", []))
        self._cls = getattr(self._model.config, "model_type", "") in CLS_MODEL_TYPES
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            # Stages of a CNN differ in width, so the width of the chosen output is measured on a blank image.
            from PIL import Image

            blank = Image.new("RGB", (64, 64), (128, 128, 128))
            with self._torch.inference_mode():
                vector = self._image_vectors(self.prepare_images([blank]).to(self._device))
            self._dimension = int(vector.shape[-1])
        return self._dimension

    def _image_vectors(self, pixels: Any) -> Any:
        outputs = self._model(pixel_values=pixels, output_hidden_states=self.layers is not None, return_dict=True)
        if self.layers is not None:
            states = selected_states(getattr(outputs, "hidden_states", None), self.layers, self.model.name)
            return self._pool(states)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is not None and self._use_pooler:
            return pooled.reshape(pooled.shape[0], -1)
        return self._pool(outputs.last_hidden_state)

    def _pool(self, states: Any) -> Any:
        if states.dim() == 4:
            return states.mean(dim=(2, 3))
        if states.dim() == 3:
            return states[:, 0] if self._cls else states.mean(dim=1)
        return states.reshape(states.shape[0], -1)

    def describe(self) -> dict[str, Any]:
        pooling = "pooler" if self.layers is None and self._use_pooler else ("cls" if self._cls else "mean")
        return {**super().describe(), "pooling": pooling}
