"""What the Hugging Face-based backends share: quiet loading, device choice, model loading errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from embedcli.backends.base import Device, cut_long_texts, length_sorted_batches
from embedcli.backends.models import ModelRef, ModelSource
from embedcli.errors import ModelError


def quiet_hugging_face() -> None:
    """Keep transformers' and the hub's progress bars and advice off stderr: embedcli reports for itself."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def torch_device(device: Device) -> str:
    """A concrete torch device for `device`, failing clearly when the asked-for one is absent."""
    import torch

    if device is Device.auto:
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if device is Device.cuda and not torch.cuda.is_available():
        raise ModelError("--device cuda: no CUDA device is available here", hint="use --device cpu")
    if device is Device.mps and not torch.backends.mps.is_available():
        raise ModelError("--device mps: no MPS device is available here", hint="use --device cpu")
    return device.value


def load_failure(model: ModelRef, exc: Exception) -> ModelError:
    """One clear line for a model that would not load, with where embedcli looked."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if model.source is ModelSource.hub:
        return ModelError(
            f"cannot load model '{model.name}': it is not a local folder, not shipped with embedcli, "
            f"and could not be loaded from the Hugging Face hub or its cache ({first_line})",
            hint="pass a local model folder with --model, or download it where there is network first",
        )
    return ModelError(f"cannot load model '{model.name}' from {model.location}: {first_line}")


def count_over_limit(tokenizer: Any, texts: list[str], limit: int | None) -> tuple[int, list[int]]:
    """How many texts exceed `limit` tokens (special tokens included), and every text's token count."""
    encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    over = sum(1 for n in lengths if limit is not None and n > limit)
    return over, lengths


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """A function giving a text's token count (special tokens included, nothing truncated), for cut_long_texts."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    return count


def text_batches(
    tokenizer: Any, texts: list[str], batch_size: int, limit: int | None, device: str
) -> tuple[int, Iterator[tuple[list[int], Any]]]:
    """Tokenized batches of `texts` for a transformers model: very long texts cut first (`cut_long_texts`), then
    batches of similar length, padded, truncated at `limit`, on `device`. Returns (texts over the limit,
    (indices into `texts`, batch) pairs); callers put each batch's vectors back at its indices."""
    texts = cut_long_texts(texts, limit, token_counter(tokenizer))
    over, lengths = count_over_limit(tokenizer, texts, limit)

    def batches() -> Iterator[tuple[list[int], Any]]:
        for indices in length_sorted_batches(lengths, batch_size):
            batch = tokenizer(
                [texts[i] for i in indices],
                padding=True,
                truncation=limit is not None,
                max_length=limit,
                return_tensors="pt",
            ).to(device)
            yield indices, batch

    return over, batches()
