"""Issue 17 item 9 in every backend with a token limit: a very long text is cut before tokenizing, and its vector
is the one the whole text gives (the tokens the model reads are the same), with the truncation counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, cache_at

from embedcli.backends.base import BackendOptions
from embedcli.backends.models import resolve_model


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("onnx-cache-cut")
    with cache_at(root):
        yield root


@pytest.fixture(scope="module")
def texts() -> list[str]:
    book = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig").replace("\n", " ")
    return [book[:300_000], book[:3_000], ("z" * 300 + " ") * 2_000, "a short one"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["onnx", "sentence-transformers", "transformers"])
def test_long_texts_give_the_vector_of_the_whole(onnx_cache: Path, tiny_st_dir: Path, texts: list[str], name: str):
    from embedcli.backends import create_backend

    backend = create_backend(name, resolve_model(str(tiny_st_dir)), BackendOptions(batch_size=2))
    got = backend.embed(texts)
    np.testing.assert_allclose(got[0], got[1], atol=1e-5)  # the same first tokens, read from a 300 kB line
    assert backend.truncated == 3
    # The text of 300-character words is cut later (their [UNK]s fold many characters into one token): its vector
    # is that of a head holding enough words to fill the model's limit.
    head = ("z" * 300 + " ") * 40
    np.testing.assert_allclose(got[2], backend.embed([head])[0], atol=1e-5)
