"""`embedcli --help`, each command's --help and tab completion load no heavy library: every TAB pays for them.

Each case runs in a fresh interpreter (this process has imported everything already) and reads its `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedcli.cli.app import COMMANDS

# numpy and everything TID253 keeps out of module level (pyproject.toml), plus what they would drag in.
HEAVY = (
    "numpy",
    "torch",
    "transformers",
    "sentence_transformers",
    "gensim",
    "sklearn",
    "umap",
    "openTSNE",
    "pyarrow",
    "onnxruntime",
    "onnx",
    "tokenizers",
    "matplotlib",
    "scipy",
    "faiss",
    "huggingface_hub",
    "pandas",
)
# The modules of the commands, which the root --help and the completion of a command name must not import.
COMMAND_MODULES = {name: command.module for name, command in COMMANDS.items()}
DOMAINS = ("embed", "search", "reduce", "train", "inspect")
# The only domain modules --help may load: those holding the choices Typer shows (enums), which import nothing that
# computes.
CHOICES = {"embedcli.reduce.settings", "embedcli.train.settings"}

PROBE = """
import json, sys
sys.argv = ["embedcli", *json.loads(sys.argv[1])]
from embedcli.cli.app import main
try:
    main()
except SystemExit:
    pass
with open(OUT, "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def modules_loaded(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The modules a fresh `embedcli ARGS` has loaded when it is done, and what it printed."""
    out = tmp_path / "modules.json"
    code = PROBE.replace("OUT", repr(str(out)))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def heavy(modules: list[str]) -> list[str]:
    return sorted({m.partition(".")[0] for m in modules} & set(HEAVY))


def domain_code(modules: list[str]) -> list[str]:
    """The domain modules loaded beyond the packages' entry points and the modules of choices."""
    return sorted(
        m
        for m in modules
        if m.startswith("embedcli.") and m.count(".") >= 2 and m.split(".")[1] in DOMAINS and m not in CHOICES
    )


@pytest.mark.parametrize("args", [["--help"], *[[command, "--help"] for command in COMMANDS]], ids=" ".join)
def test_help_loads_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    modules, shown = modules_loaded(tmp_path, args)
    assert "Usage" in shown  # the probe did print the help, so the list is that of a real --help
    assert heavy(modules) == []
    assert domain_code(modules) == []


def command_modules(modules: list[str]) -> list[str]:
    return sorted(set(modules) & set(COMMAND_MODULES.values()))


def test_root_help_imports_no_command_module(tmp_path: Path) -> None:
    modules, shown = modules_loaded(tmp_path, ["--help"])
    assert all(name in shown for name in COMMANDS)  # every command is listed, with its summary
    assert "Turn texts, images or sounds into vectors" in shown
    assert command_modules(modules) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_imports_that_command_only(tmp_path: Path, command: str) -> None:
    modules, shown = modules_loaded(tmp_path, [command, "--help"])
    assert f"embedcli {command}" in shown
    assert command_modules(modules) == [COMMAND_MODULES[command]]


def test_completing_a_command_name_imports_no_command_module(tmp_path: Path) -> None:
    env = {"_EMBEDCLI_COMPLETE": "complete_bash", "COMP_WORDS": "embedcli ", "COMP_CWORD": "1"}
    modules, shown = modules_loaded(tmp_path, [], env)
    assert shown.split() == list(COMMANDS)
    assert command_modules(modules) == []


def test_tab_completion_loads_no_heavy_library(tmp_path: Path) -> None:
    env = {"_EMBEDCLI_COMPLETE": "complete_bash", "COMP_WORDS": "embedcli embed --ba", "COMP_CWORD": "2"}
    modules, shown = modules_loaded(tmp_path, [], env)
    assert "--backend" in shown.split()
    assert heavy(modules) == []
    assert domain_code(modules) == []
    assert command_modules(modules) == ["embedcli.cli.embed"]


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    # The check must be able to fail: a command that runs (not --help) on vectors does load numpy.
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.eye(3, dtype=np.float32))
    modules, shown = modules_loaded(tmp_path, ["similar", str(vectors), "-k", "1", "--format", "jsonl"])
    assert shown.count("\n") == 3  # one hit per row: the command did run
    assert "numpy" in heavy(modules)
    assert "embedcli.search.request" in domain_code(modules)
