"""The default backend: a sentence-transformers model (the shipped all-MiniLM-L6-v2 unless told otherwise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedcli.backends.base import Backend, BackendOptions, Device, check_max_length, cut_long_texts, token_limit
from embedcli.backends.hf import count_over_limit, load_failure, quiet_hugging_face, token_counter, torch_device
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError


class SentenceTransformerBackend(Backend):
    name = "sentence-transformers"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        quiet_hugging_face()
        # Imported here, not at module level: it costs seconds, and most commands never need it.
        from sentence_transformers import SentenceTransformer

        device = None if options.device is Device.auto else torch_device(options.device)
        try:
            self._model = SentenceTransformer(model.location, device=device, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, exc) from None
        if options.max_length is not None:
            check_max_length(options.max_length, self._model_limit(), model.name)
            self._model.max_seq_length = options.max_length

    def _model_limit(self) -> int | None:
        """What the model can read: its position table and its tokenizer's limit (None when it does not say)."""
        first = self._model[0] if len(self._model) else None
        config = getattr(getattr(first, "auto_model", None), "config", None)
        tokenizer = getattr(first, "tokenizer", None)
        return token_limit(
            getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)
        )

    @property
    def dimension(self) -> int:
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ModelError(f"model '{self.model.name}' does not say its embedding dimension")
        return int(dimension)

    @property
    def max_length(self) -> int | None:
        return self._model.max_seq_length

    @property
    def tokenizer(self) -> Any | None:
        return getattr(self._model.tokenizer, "backend_tokenizer", None)  # None for a slow (Python) tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        prompt = self.options.prompt or ""
        texts = cut_long_texts(texts, self.max_length, token_counter(self._model.tokenizer))
        over, _ = count_over_limit(self._model.tokenizer, [prompt + t for t in texts], self.max_length)
        self.truncated += over
        vectors = self._model.encode(
            texts,
            batch_size=self.options.batch_size,
            prompt=self.options.prompt,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model_normalizes": self._has_normalize()}

    def _has_normalize(self) -> bool:
        return any(type(module).__name__ == "Normalize" for module in self._model)
