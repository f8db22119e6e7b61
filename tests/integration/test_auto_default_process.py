"""`embed -t` through the default backend in a fresh interpreter: torch is never imported once the export exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from embedcli.backends.onnx.cache import cache_root

USER_CACHE = cache_root()  # where `make install` put the shipped model's export
PROBE = """
import atexit, sys
atexit.register(lambda: print("TORCH", "torch" in sys.modules, file=sys.stderr))
sys.argv = ["embedcli", *sys.argv[1:]]
from embedcli.cli.app import main
main()
"""


def embed_text(cache: Path, *model: str) -> tuple[dict, str]:
    env = {**os.environ, "EMBEDCLI_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("EMBEDCLI_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "embed", "-t", "hello world", "--format", "jsonl", *model],
        capture_output=True,
        env=env,
        timeout=300,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    return json.loads(proc.stdout), stderr


def test_default_embed_text_does_not_import_torch(tiny_st_dir: Path, tmp_path: Path) -> None:
    from embedcli.backends.auto import export_for_auto
    from embedcli.backends.models import resolve_model

    cache = tmp_path / "cache"
    before = os.environ.get("EMBEDCLI_CACHE")
    os.environ["EMBEDCLI_CACHE"] = str(cache)
    try:
        export_for_auto(resolve_model(str(tiny_st_dir)))
    finally:
        os.environ.pop("EMBEDCLI_CACHE") if before is None else os.environ.update(EMBEDCLI_CACHE=before)
    row, stderr = embed_text(cache, "-m", str(tiny_st_dir))
    assert "TORCH False" in stderr and " onnx " in stderr, stderr
    assert len(row["embedding"]) == 32


@pytest.mark.slow
def test_default_embed_text_of_the_shipped_model_does_not_import_torch() -> None:
    row, stderr = embed_text(USER_CACHE)  # exports into the user's cache first if `make install` did not
    assert "TORCH False" in embed_text(USER_CACHE)[1]
    assert " onnx all-MiniLM-L6-v2" in stderr and len(row["embedding"]) == 384
