"""Audio backends: speech encoders (wav2vec2, HuBERT, WavLM) mean-pooled over frames, and x-vector speaker models.

A clip's vector never depends on the clips beside it. Models whose first convolution is group-normalised
(`feat_extract_norm == "group"`: wav2vec2-base, HuBERT-base, WavLM-base) normalise over time, so padding would change
them: they run without an attention mask, on groups of clips of equal length. Layer-normalised models take padded
batches with an attention mask, and pooling then uses the frame-level mask, so padded frames are never averaged in.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from embedcli.backends.base import BackendOptions, Modality, length_sorted_batches
from embedcli.backends.hf import quiet_hugging_face, torch_device
from embedcli.backends.layers import masked_mean, selected_states
from embedcli.backends.media_base import MediaBackend, load_failure
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError


class _AudioModel(MediaBackend):
    """Loading, feature extraction and mask-aware batching shared by the audio backends."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.audio})
    _auto_class = "AutoModel"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        quiet_hugging_face()
        import torch
        import transformers

        self._torch = torch
        self._device = torch_device(options.device)
        try:
            loader = getattr(transformers, self._auto_class)
            self._model = loader.from_pretrained(model.location, local_files_only=model.is_local)
        except Exception as exc:
            raise load_failure(model, "model", exc) from None
        try:
            self._extractor = transformers.AutoFeatureExtractor.from_pretrained(
                model.location, local_files_only=model.is_local
            )
        except Exception as exc:
            raise load_failure(model, "feature extractor", exc) from None
        self._model.to(self._device).eval()
        self._group_norm = getattr(self._model.config, "feat_extract_norm", "layer") == "group"

    @property
    def sampling_rate(self) -> int:
        return int(self._extractor.sampling_rate)

    @property
    def min_samples(self) -> int:
        return _receptive_field(self._model.config, self._min_frames())

    def _min_frames(self) -> int:
        return 1

    def prepare_audio(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Each clip normalised as the feature extractor does, alone (so never against another clip's padding)."""
        prepared = []
        for clip in clips:
            values = self._extractor(clip, sampling_rate=self.sampling_rate, return_tensors="np")["input_values"]
            prepared.append(np.asarray(values[0], dtype=np.float32))
        return prepared

    def embed_prepared(self, prepared: list[np.ndarray]) -> np.ndarray:
        short = [i for i, clip in enumerate(prepared) if len(clip) < self.min_samples]
        if short:
            raise ModelError(
                f"model '{self.model.name}' needs clips of at least {self.min_samples} samples; "
                f"clip {short[0]} has {len(prepared[short[0]])}"
            )
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        for indices in self._batches([len(clip) for clip in prepared]):
            values, mask = self._pad([prepared[i] for i in indices])
            with self._torch.inference_mode():
                try:
                    vectors = self._clip_vectors(values, mask)
                except (RuntimeError, ValueError) as exc:
                    raise ModelError(f"model '{self.model.name}' failed on a batch of clips: {exc}") from None
            out[indices] = vectors.float().cpu().numpy()
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        size = self.options.batch_size
        if not self._group_norm:
            return list(length_sorted_batches(lengths, size))
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, n in enumerate(lengths):
            by_length[n].append(i)
        return [group[s : s + size] for group in by_length.values() for s in range(0, len(group), size)]

    def _pad(self, clips: list[np.ndarray]) -> tuple[Any, Any | None]:
        longest = max(len(clip) for clip in clips)
        values = np.zeros((len(clips), longest), dtype=np.float32)
        mask = np.zeros((len(clips), longest), dtype=np.int64)
        for row, clip in enumerate(clips):
            values[row, : len(clip)] = clip
            mask[row, : len(clip)] = 1
        torch = self._torch
        # Group-norm models must not see a mask (their batches hold clips of one length, so none is needed).
        attention = None if self._group_norm else torch.from_numpy(mask).to(self._device)
        return torch.from_numpy(values).to(self._device), attention

    def _clip_vectors(self, values: Any, mask: Any | None) -> Any:
        raise NotImplementedError


class AudioEncoderBackend(_AudioModel):
    """wav2vec2, HuBERT, WavLM and kin via AutoModel: the mean of the last (or selected) hidden states over the
    clip's frames."""

    name = "audio"

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    def _clip_vectors(self, values: Any, mask: Any | None) -> Any:
        outputs = self._model(
            input_values=values,
            attention_mask=mask,
            output_hidden_states=self.layers is not None,
            return_dict=True,
        )
        if self.layers is None:
            states = outputs.last_hidden_state
        else:
            states = selected_states(getattr(outputs, "hidden_states", None), self.layers, self.model.name)
        frame_mask = None
        if mask is not None:
            frame_mask = self._model._get_feature_vector_attention_mask(states.shape[1], mask)
        return masked_mean(states.float(), frame_mask)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pooling": "mean", "sampling_rate": self.sampling_rate}


class XVectorBackend(_AudioModel):
    """A speaker-verification model with an x-vector head (WavLMForXVector and kin): its `embeddings`, compared
    by cosine."""

    name = "xvector"
    _auto_class = "AutoModelForAudioXVector"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        if self.layers is not None:
            raise ModelError(
                f"model '{model.name}' gives one speaker embedding from its x-vector head: --layer/--layers do not "
                "apply to it",
                hint="use --backend audio to pool the hidden states of one of its layers",
            )

    @property
    def dimension(self) -> int:
        return int(self._model.config.xvector_output_dim)

    def _min_frames(self) -> int:
        # The TDNN layers are unpadded convolutions: each takes (kernel - 1) * dilation frames off the clip.
        config = self._model.config
        return 1 + sum((k - 1) * d for k, d in zip(config.tdnn_kernel, config.tdnn_dilation, strict=False))

    def _clip_vectors(self, values: Any, mask: Any | None) -> Any:
        return self._model(input_values=values, attention_mask=mask, return_dict=True).embeddings

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pooling": "xvector", "sampling_rate": self.sampling_rate}


def _receptive_field(config: Any, frames: int) -> int:
    """The fewest input samples from which the convolutional feature encoder yields `frames` frames."""
    samples = frames
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=False))):
        samples = (samples - 1) * stride + kernel
    return samples
