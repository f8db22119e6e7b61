"""Plain Hugging Face encoders: AutoTokenizer + AutoModel + attention-masked mean pooling."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedcli.backends.base import (
    Backend,
    BackendOptions,
    check_max_length,
    token_limit,
)
from embedcli.backends.hf import load_failure, quiet_hugging_face, text_batches, torch_device
from embedcli.backends.layers import layer_options, pool_text_layers
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        quiet_hugging_face()
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self._device = torch_device(options.device)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model.location, local_files_only=model.is_local)
            self._model = AutoModel.from_pretrained(model.location, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, exc) from None
        self._model.to(self._device).eval()
        check_max_length(options.max_length, self._model_limit(), model.name)
        self._limit = options.max_length or self._model_limit()
        self.layers = layer_options(options.extra)  # None: the last state; else the mean of these hidden states

    def _model_limit(self) -> int | None:
        return token_limit(
            getattr(self._model.config, "max_position_embeddings", None), self._tokenizer.model_max_length
        )

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    @property
    def max_length(self) -> int | None:
        return self._limit

    @property
    def tokenizer(self) -> Any | None:
        return getattr(self._tokenizer, "backend_tokenizer", None)  # None for a slow (Python) tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        over, batches = text_batches(self._tokenizer, texts, self.options.batch_size, self._limit, self._device)
        self.truncated += over
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for indices, batch in batches:
            with torch.inference_mode():
                try:
                    outputs = self._model(**batch, output_hidden_states=self.layers is not None)
                except (RuntimeError, IndexError) as exc:
                    raise ModelError(f"model '{self.model.name}' failed on a batch: {exc}") from None
            pooled = pool_text_layers(outputs, batch["attention_mask"], self.layers, self.model.name)
            out[indices] = pooled.float().cpu().numpy()
        return out

    def describe(self) -> dict[str, Any]:
        described = {**super().describe(), "pooling": "mean"}
        if self.layers is not None:
            described["layers"] = list(self.layers.layers)
        return described


def mean_pool(tokens: Any, attention_mask: Any) -> Any:
    """The average of the token vectors that the attention mask keeps (padding excluded)."""
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
