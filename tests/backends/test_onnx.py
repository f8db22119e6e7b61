"""The onnx backend against sentence-transformers called directly: exports, pooling, truncation, order, int8."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, cache_at

from embedcli.backends.base import BackendOptions
from embedcli.backends.models import resolve_model
from embedcli.backends.onnx import Quantize
from embedcli.backends.onnx.encoder import load_encoder, pool
from embedcli.backends.onnx.runtime import OnnxBackend
from embedcli.errors import UsageError

LONG = " ".join(["word"] * 80)  # longer than the tiny model's 32 tokens


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the module, so the tiny model is exported once."""
    root = tmp_path_factory.mktemp("onnx-cache")
    with cache_at(root):
        yield root


def st_vectors(model_dir: Path | str, texts: list[str], max_length: int | None = None) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    if max_length is not None:
        model.max_seq_length = max_length
    return model.encode(texts, batch_size=3, convert_to_numpy=True)


def onnx_backend(model_dir: Path | str, **extra: object) -> OnnxBackend:
    batch_size = int(extra.pop("batch_size", 3))  # type: ignore[call-overload]
    max_length = extra.pop("max_length", None)
    options = BackendOptions(batch_size=batch_size, max_length=max_length, extra=extra)  # type: ignore[arg-type]
    return OnnxBackend(resolve_model(str(model_dir)), options)


def test_fp32_equals_sentence_transformers(onnx_cache: Path, tiny_st_dir: Path, sample_sentences: list[str]) -> None:
    texts = [*sample_sentences, LONG, "ok"]
    backend = onnx_backend(tiny_st_dir)
    got = backend.embed(texts)
    np.testing.assert_allclose(got, st_vectors(tiny_st_dir, texts), atol=1e-4)
    assert got.dtype == np.float32 and got.shape == (len(texts), backend.dimension)
    assert backend.truncated == 1
    assert backend.describe()["model_normalizes"] is True
    assert backend.entry.manifest["exporter"] == "dynamo"
    assert backend.notes() == [f"exported to ONNX on first use, cached in {backend.entry.path}"]
    assert onnx_backend(tiny_st_dir).notes() == []  # the second time, from the cache


def test_order_is_kept_whatever_the_lengths(onnx_cache: Path, tiny_st_dir: Path) -> None:
    rng = np.random.default_rng(SEED)
    texts = [" ".join(["alpha", "beta", "gamma"][: 1 + i % 3] * int(n)) for i, n in enumerate(rng.integers(1, 9, 23))]
    backend = onnx_backend(tiny_st_dir, batch_size=4)
    together = backend.embed(texts)
    one_by_one = np.vstack([backend.embed([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_max_length_and_prompt_follow_sentence_transformers(onnx_cache: Path, tiny_st_dir: Path) -> None:
    from embedcli.backends.sentence_transformers import SentenceTransformerBackend

    texts = ["a short one", "a rather longer sentence with quite a few words in it", LONG]
    options = BackendOptions(batch_size=2, max_length=8, prompt="query: ")
    reference = SentenceTransformerBackend(resolve_model(str(tiny_st_dir)), options)
    backend = OnnxBackend(resolve_model(str(tiny_st_dir)), options)
    np.testing.assert_allclose(backend.embed(texts), reference.embed(texts), atol=1e-4)
    assert backend.truncated == reference.truncated == 2
    assert backend.max_length == 8


@pytest.mark.parametrize(
    "modes", [["cls"], ["max"], ["mean"], ["mean_sqrt_len_tokens"], ["lasttoken"], ["cls", "mean"]]
)
def test_pooling_equals_sentence_transformers_pooling(modes: list[str]) -> None:
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling

    rng = np.random.default_rng(SEED)
    tokens = rng.normal(size=(4, 7, 6)).astype(np.float32)
    mask = np.zeros((4, 7), dtype=np.int64)
    for row, n in enumerate([7, 3, 1, 5]):
        mask[row, :n] = 1
    module = Pooling(6, pooling_mode=modes[0] if len(modes) == 1 else tuple(modes))
    expected = module({"token_embeddings": torch.from_numpy(tokens), "attention_mask": torch.from_numpy(mask)})
    np.testing.assert_allclose(pool(tokens, mask, modes), expected["sentence_embedding"].numpy(), atol=1e-6)


def test_int8_stays_close_to_fp32(onnx_cache: Path, tiny_st_dir: Path, sample_sentences: list[str]) -> None:
    fp32 = onnx_backend(tiny_st_dir).embed(sample_sentences)
    backend = onnx_backend(tiny_st_dir, quantize="int8")
    got = backend.embed(sample_sentences)
    cosines = (got * fp32).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosines.min() > 0.99
    assert backend.entry.manifest["options"]["quantize"] == "int8"
    assert backend.entry.manifest["options"]["per_channel"] is True
    assert backend.describe()["quantize"] == Quantize.int8.value


def test_damaged_entry_is_detected_and_rebuilt(
    onnx_cache: Path, tiny_st_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    texts = ["a damaged cache must not be trusted", "second text"]
    expected = onnx_backend(tiny_st_dir).embed(texts)
    shutil.copytree(onnx_cache, tmp_path / "cache")
    monkeypatch.setenv("EMBEDCLI_CACHE", str(tmp_path / "cache"))
    entry = onnx_backend(tiny_st_dir).entry
    model = entry.file("model.onnx")
    data = bytearray(model.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroed weights: still a loadable graph
    model.write_bytes(bytes(data))
    assert load_encoder(entry) is None
    rebuilt = onnx_backend(tiny_st_dir)
    assert rebuilt.entry.path == entry.path
    assert rebuilt.entry.file("model.onnx").read_bytes() != bytes(data)
    np.testing.assert_allclose(rebuilt.embed(texts), expected, atol=1e-6)


def test_word_vector_files_are_refused(word2vec_bin: Path) -> None:
    with pytest.raises(UsageError, match="is a file"):
        onnx_backend(word2vec_bin)
