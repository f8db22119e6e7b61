"""The default backend `auto`: onnx where a model exports faithfully (vectors against sentence-transformers called
directly), sentence-transformers otherwise, decided once per model; and the one vector family both make."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import cache_at, shipped_model_dir

from embedcli.backends import choose_backend
from embedcli.backends.auto import AUTO_TOLERANCE, export_for_auto, open_auto
from embedcli.backends.base import BackendOptions
from embedcli.backends.models import resolve_model
from embedcli.backends.onnx.cache import cache_root, entry_key, exports_dir, model_content_hash, recorded_failure
from embedcli.backends.onnx.export import ExportRefused
from embedcli.backends.onnx.runtime import OnnxBackend, Quantize, cached_export, export_options
from embedcli.backends.sentence_transformers import SentenceTransformerBackend
from embedcli.embed.incremental import settings_mismatch
from embedcli.embed.run import open_backend
from embedcli.provenance import SENTENCE_FAMILY, Provenance, vector_family

# The cache `make install` fills with the shipped model's export, read before any fixture points elsewhere.
USER_CACHE = cache_root()
TEXTS = [
    "Hello world.",
    "A man is playing a guitar on the street.",
    "Short",
    " ".join(["word"] * 80),  # longer than the tiny model's 32 tokens: truncated
    "Embeddings map sentences to vectors.",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("EMBEDCLI_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the module, so the tiny model is exported once."""
    root = tmp_path_factory.mktemp("auto-cache")
    with cache_at(root):
        yield root


def st_vectors(model_dir: Path | str, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu").encode(texts, batch_size=2, convert_to_numpy=True)


def lines() -> tuple[list[str], BackendOptions]:
    said: list[str] = []
    return said, BackendOptions(batch_size=2, announce=said.append)


def test_auto_is_the_default_except_for_word_vector_files(tiny_st_dir: Path, word2vec_bin: Path) -> None:
    assert choose_backend(None, resolve_model(str(tiny_st_dir))) == "auto"
    assert choose_backend("auto", resolve_model(str(word2vec_bin))) == "word-vectors"
    assert choose_backend(None, resolve_model(str(word2vec_bin))) == "word-vectors"
    assert choose_backend("sentence-transformers", resolve_model(str(tiny_st_dir))) == "sentence-transformers"


def test_exportable_model_gets_onnx_with_sentence_transformers_vectors(shared_cache: Path, tiny_st_dir: Path) -> None:
    said, options = lines()
    backend = open_backend(None, resolve_model(str(tiny_st_dir)), options)
    assert isinstance(backend, OnnxBackend)
    assert len(said) == 2 and "exporting" in said[0] and "auto backend: onnx" in said[1]
    np.testing.assert_allclose(backend.embed(TEXTS), st_vectors(tiny_st_dir, TEXTS), atol=AUTO_TOLERANCE, rtol=0)
    again, options = lines()
    assert isinstance(open_backend(None, resolve_model(str(tiny_st_dir)), options), OnnxBackend)
    assert again == []  # decided once: later runs say nothing


def test_int8_stays_opt_in(shared_cache: Path, tiny_st_dir: Path) -> None:
    model = resolve_model(str(tiny_st_dir))
    int8 = open_auto(model, BackendOptions(extra={"quantize": "int8"}))
    assert isinstance(int8, OnnxBackend) and int8.quantize is Quantize.int8
    fp32 = open_auto(model, BackendOptions())
    assert isinstance(fp32, OnnxBackend) and fp32.quantize is Quantize.none


def test_model_with_dense_layer_falls_back_once_and_is_not_retried(cache: Path, tiny_dense_dir: Path) -> None:
    model = resolve_model(str(tiny_dense_dir))
    said, options = lines()
    backend = open_backend(None, model, options)
    assert isinstance(backend, SentenceTransformerBackend)
    assert len(said) == 1
    assert "sentence-transformers" in said[0] and "Dense" in said[0] and "exporting" not in said[0]
    key = entry_key(model_content_hash(tiny_dense_dir), export_options(Quantize.none))
    assert "Dense" in (recorded_failure(key) or "")
    np.testing.assert_allclose(backend.embed(TEXTS), st_vectors(tiny_dense_dir, TEXTS), atol=1e-6, rtol=0)
    again, options = lines()
    assert isinstance(open_backend(None, model, options), SentenceTransformerBackend)
    assert again == []
    assert not [p for p in exports_dir().iterdir() if p.is_dir() and not p.name.startswith(".")]


def test_export_refresh_forgets_a_failure_and_says_why_again(cache: Path, tiny_dense_dir: Path) -> None:
    model = resolve_model(str(tiny_dense_dir))
    open_backend(None, model, BackendOptions())
    with pytest.raises(ExportRefused, match="Dense"):
        export_for_auto(model, refresh=True)


def test_export_ahead_of_time_is_used_without_a_word(shared_cache: Path, tiny_st_dir: Path) -> None:
    model = resolve_model(str(tiny_st_dir))
    result = export_for_auto(model)  # made by the first test of this module: found, not rebuilt
    assert not result.built and (result.max_abs_error or 1) <= AUTO_TOLERANCE
    assert cached_export(model, Quantize.none) is not None
    said, options = lines()
    assert isinstance(open_backend(None, model, options), OnnxBackend) and said == []


@pytest.mark.slow
def test_shipped_model_defaults_to_onnx_with_sentence_transformers_vectors(
    sample_sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uses the cache `make install` fills (exports there, once, when it is empty)."""
    monkeypatch.setenv("EMBEDCLI_CACHE", str(USER_CACHE))
    model = resolve_model(None)
    backend = open_backend(None, model, BackendOptions(batch_size=16))
    assert isinstance(backend, OnnxBackend)
    texts = [*sample_sentences, *TEXTS]
    expected = st_vectors(shipped_model_dir(), texts)
    np.testing.assert_allclose(backend.embed(texts), expected, atol=AUTO_TOLERANCE, rtol=0)


def test_fp32_onnx_and_sentence_transformers_are_one_family() -> None:
    assert vector_family("onnx", "none") == vector_family("sentence-transformers") == SENTENCE_FAMILY
    assert vector_family("onnx", "int8") not in (SENTENCE_FAMILY, None)
    assert vector_family("transformers") == "transformers"
    assert vector_family(None) is None
    assert Provenance(backend="onnx", quantize="none").family == Provenance(backend="sentence-transformers").family


def test_store_settings_treat_one_family_as_one() -> None:
    common = {"model": "m", "dimension": 8, "precision": "float32", "normalized": False, "max_length": 32}
    st = {**common, "backend": "sentence-transformers"}
    fp32 = {**common, "backend": "onnx", "pooling": "mean", "quantize": "none"}
    int8 = {**fp32, "quantize": "int8"}
    assert settings_mismatch(st, fp32) is None
    assert settings_mismatch(fp32, st) is None
    assert settings_mismatch(st, int8) is not None
    assert settings_mismatch(fp32, int8) is not None
    assert settings_mismatch(st, {**fp32, "max_length": 16}) is not None
