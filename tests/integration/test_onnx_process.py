"""The onnx backend as users run it: the issue's commands, torch-free warm runs, concurrent first runs, the cache."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, run_cli, shipped_model_dir

HEAVY = ("torch", "transformers", "sentence_transformers")
# Runs the CLI in this interpreter, then reports which heavy modules it imported (on stderr, last line).
IMPORT_PROBE = """
import atexit, sys
atexit.register(lambda: print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))
sys.argv = ["embedcli", *sys.argv[1:]]
from embedcli.cli.app import main
main()
"""


def run_probed(*args: str, cache: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDCLI_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE.format(heavy=HEAVY), *args], capture_output=True, env=env, timeout=300
    )
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("HEAVY="), proc.stderr.decode()
    return proc, [m for m in last.removeprefix("HEAVY=").split(",") if m]


def jsonl_vectors(stdout: bytes) -> np.ndarray:
    return np.array([json.loads(line)["embedding"] for line in stdout.decode().splitlines()], dtype=np.float32)


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "onnx").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def concurrent_first_runs(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """Two processes embedding with the tiny model at once, both finding the cache empty."""
    cache = tmp_path_factory.mktemp("onnx-process") / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDCLI_CACHE": str(cache)}
    args = [sys.executable, "-m", "embedcli", "embed", "-t", "two at once", "-b", "onnx", "-m", str(tiny_st_dir)]
    procs = [subprocess.Popen([*args, "-f", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)]
    procs.append(subprocess.Popen([*args, "-f", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in outputs]
    return cache, outputs


def test_concurrent_first_runs_make_one_entry_then_warm_runs_skip_torch(
    concurrent_first_runs: tuple[Path, list], tiny_st_dir: Path
) -> None:
    cache, outputs = concurrent_first_runs
    first, second = (jsonl_vectors(out) for out, _ in outputs)
    np.testing.assert_array_equal(first, second)
    assert len(entries(cache)) == 1
    assert not [p for p in (cache / "onnx").iterdir() if p.name.startswith(".")]  # no staging folder left

    args = ("embed", "-t", "two at once", "-b", "onnx", "-m", str(tiny_st_dir), "-f", "jsonl")
    proc, heavy = run_probed(*args, cache=cache)
    assert proc.returncode == 0, proc.stderr.decode()
    assert heavy == []
    np.testing.assert_allclose(jsonl_vectors(proc.stdout), first, atol=1e-6)


def test_models_lists_and_clears_the_cache(
    concurrent_first_runs: tuple[Path, list], tiny_st_dir: Path, tmp_path: Path
) -> None:
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(concurrent_first_runs[0], cache)
    env = {"EMBEDCLI_CACHE": str(cache)}
    listing = json.loads(run_cli("models", "--json", env=env, check=True).stdout)
    assert listing["shipped"][0] == {"name": "all-MiniLM-L6-v2", "default": True, "path": str(shipped_model_dir())}
    [export] = listing["exports"]
    assert export["model"] == str(tiny_st_dir) and export["quantize"] == "none"
    assert export["size"] == sum(f.stat().st_size for f in Path(export["path"]).iterdir() if f.name != "manifest.json")
    table = run_cli("models", env=env, check=True).stdout.decode()
    assert export["path"] in table and "embedcli models --clear" in table

    cleared = run_cli("models", "--clear", env=env, check=True)
    assert b"removed 1 cached export" in cleared.stderr and cleared.stdout == b""
    assert json.loads(run_cli("models", "--json", env=env, check=True).stdout)["exports"] == []


def test_quantize_without_onnx_is_a_usage_error() -> None:
    proc = run_cli("embed", "-t", "x", "--quantize", "int8", "-b", "sentence-transformers")
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines()[0] == "error: --quantize needs --backend onnx"


@pytest.mark.slow
def test_issue_commands_with_the_shipped_model(tmp_path: Path) -> None:
    """The issue's examples exactly as written, with the shipped model exported for real, checked against
    sentence-transformers called directly."""
    from sentence_transformers import SentenceTransformer

    with (SHARED_DATA / "stsbenchmark" / "sts-test.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    texts = [row[5] for row in rows[:30]] + [" ".join(["long"] * 300)]
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    env = {"EMBEDCLI_CACHE": str(tmp_path / "cache")}
    model = SentenceTransformer(str(shipped_model_dir()), device="cpu")
    expected = model.encode(texts, convert_to_numpy=True)

    def vectors(path: Path) -> np.ndarray:
        import pyarrow.parquet as pq

        return np.array(pq.read_table(path).column("embedding").to_pylist(), dtype=np.float32)

    run_cli("embed", "docs.txt", "--backend", "onnx", "-o", "v.parquet", env=env, cwd=tmp_path, check=True)
    np.testing.assert_allclose(vectors(tmp_path / "v.parquet"), expected, atol=1e-4)

    run_cli("embed", "docs.txt", "--backend", "onnx", "--quantize", "int8", "-o", "v.parquet", env=env, cwd=tmp_path)
    got = vectors(tmp_path / "v.parquet")
    assert ((got * expected).sum(axis=1)).mean() > 0.97  # unit vectors: dot = cosine

    proc, heavy = run_probed(
        "embed", "-t", "hello world", "--backend", "onnx", "--format", "jsonl", cache=tmp_path / "cache"
    )
    assert proc.returncode == 0 and heavy == []
    reference = model.encode(["hello world"])
    np.testing.assert_allclose(jsonl_vectors(proc.stdout), reference, atol=1e-4)

    listing = run_cli("models", env=env, check=True).stdout.decode()
    assert listing.count("export   all-MiniLM-L6-v2") == 2
