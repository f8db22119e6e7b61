"""The default backend through the CLI: the one stderr line of a fall-back, and corpora made by
sentence-transformers queried and extended through the default (onnx) without a mismatch error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.metrics import Metric, brute_force

QUERY = "how can I get my money back"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("EMBEDCLI_CACHE", str(root))
    return root


def invoke(*args: str) -> tuple[str, list[str]]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout, result.stderr.splitlines()


def auto_lines(stderr: list[str]) -> list[str]:
    return [line for line in stderr if line.startswith("auto backend")]


def test_dense_model_falls_back_in_one_line_then_quietly(cache: Path, tiny_dense_dir: Path) -> None:
    args = ("embed", "-t", "hello world", "-m", str(tiny_dense_dir), "--format", "jsonl")
    out, err = invoke(*args)
    said = auto_lines(err)
    assert len(said) == 1 and "sentence-transformers" in said[0] and "Dense" in said[0], err
    assert len(json.loads(out)["embedding"]) == 16
    assert list((cache / "onnx").glob("*.failed"))
    _, err = invoke(*args)
    assert auto_lines(err) == []
    assert any("sentence-transformers" in line for line in err)  # the summary still names the backend


def test_corpus_from_sentence_transformers_answers_default_text_queries(
    cache: Path, tiny_st_dir: Path, sample_sentences: list[str], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq
    from sentence_transformers import SentenceTransformer

    sample = tmp_path / "sample.txt"
    sample.write_text("\n".join(sample_sentences) + "\n", encoding="utf-8")
    corpus = tmp_path / "c.parquet"
    model = str(tiny_st_dir)
    invoke("embed", str(sample), "-m", model, "--backend", "sentence-transformers", "-o", str(corpus), "-q")
    out, _ = invoke("similar", str(corpus), QUERY, "-k", "3", "--format", "jsonl")
    got = [json.loads(line) for line in out.splitlines()]
    vectors = np.stack(pq.read_table(corpus).column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    query = SentenceTransformer(model, device="cpu").encode([QUERY], convert_to_numpy=True)
    rows = np.argsort(-brute_force(Metric.cosine, query, vectors)[0], kind="stable")[:3]
    assert [hit["text"] for hit in got] == [sample_sentences[i] for i in rows]
    assert cached_onnx(cache), "the text query went through the default backend (onnx)"


def test_store_made_by_sentence_transformers_is_extended_by_default(
    cache: Path, tiny_st_dir: Path, sample_sentences: list[str], tmp_path: Path
) -> None:
    sample = tmp_path / "sample.txt"
    sample.write_text("\n".join(sample_sentences) + "\n", encoding="utf-8")
    store = str(tmp_path / "v.lance")
    model = str(tiny_st_dir)
    invoke("embed", str(sample), "-m", model, "--backend", "sentence-transformers", "-o", store)
    _, err = invoke("embed", str(sample), "-m", model, "-o", store)
    assert any(f"0 new, 0 changed, {len(sample_sentences)} unchanged" in line for line in err), err
    result = CliRunner().invoke(app, ["embed", str(sample), "-m", model, "--quantize", "int8", "-o", store])
    assert result.exit_code != 0 and "onnx-int8" in str(result.exception)  # int8 vectors differ: refused


def cached_onnx(cache: Path) -> bool:
    return any((p / "model.onnx").is_file() for p in (cache / "onnx").iterdir() if p.is_dir())


def test_models_export_retries_a_remembered_refusal_and_fails_with_the_reason(
    cache: Path, tiny_dense_dir: Path
) -> None:
    invoke("embed", "-t", "x", "-m", str(tiny_dense_dir), "--format", "jsonl", "-q")
    marker = next((cache / "onnx").glob("*.failed"))
    marker.write_text('{"reason": "stale"}', encoding="utf-8")
    result = CliRunner().invoke(app, ["models", "--export", str(tiny_dense_dir)])
    assert result.exit_code != 0 and "Dense" in str(result.exception)
    assert "Dense" in marker.read_text(encoding="utf-8")  # tried again, and the new reason remembered
