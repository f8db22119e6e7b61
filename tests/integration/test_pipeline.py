"""Commands together: what `embed` records lets `similar` embed queries exactly as the corpus was embedded."""

from __future__ import annotations

import json

from conftest import run_cli

LONG = "the quick brown fox jumps over the lazy dog and keeps running far into the night " * 3


def test_text_query_reuses_the_corpus_length_limit(tiny_st_dir, tmp_path):
    corpus = tmp_path / "v.parquet"
    run_cli(
        "embed",
        "-t",
        LONG,
        "-t",
        "something else entirely",
        "--model",
        str(tiny_st_dir),
        "--max-length",
        "8",
        "-o",
        str(corpus),
        "-q",
        check=True,
    )
    done = run_cli("similar", str(corpus), LONG, "-k", "1", "--format", "jsonl", check=True)
    hit = json.loads(done.stdout.splitlines()[0])
    assert hit["id"] == "1"
    assert abs(hit["score"] - 1.0) < 1e-5


def test_first_onnx_export_is_announced_once(tiny_st_dir, tmp_path):
    env = {"EMBEDCLI_CACHE": str(tmp_path / "cache")}
    args = ("embed", "-t", "hello", "--backend", "onnx", "--model", str(tiny_st_dir), "--format", "jsonl")
    first = run_cli(*args, env=env, check=True).stderr.decode()
    assert "exporting" in first and "first use only" in first
    second = run_cli(*args, env=env, check=True).stderr.decode()
    assert "exporting" not in second
    assert "exporting" not in run_cli(*args, "-q", env={"EMBEDCLI_CACHE": str(tmp_path / "other")}).stderr.decode()


def test_similar_announces_the_first_export_of_the_corpus_model(tiny_st_dir, tmp_path):
    corpus = tmp_path / "v.parquet"
    run_cli("embed", "-t", "a cat", "-t", "a dog", "--model", str(tiny_st_dir), "-o", str(corpus), "-q", check=True)
    env = {"EMBEDCLI_CACHE": str(tmp_path / "fresh-cache")}  # the query's export is not cached yet
    first = run_cli("similar", str(corpus), "kitten", "-k", "1", "-f", "jsonl", env=env, check=True).stderr.decode()
    assert "auto backend: exporting" in first and "first use only" in first
    again = run_cli("similar", str(corpus), "kitten", "-k", "1", "-f", "jsonl", env=env, check=True).stderr.decode()
    assert "exporting" not in again
