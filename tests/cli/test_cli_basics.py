"""The command's shell: --help, --version, fast start-up, completion scripts, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, run_cli

from embedcli import __version__
from embedcli.cli.completions import SCRIPTS, completion_script

HEAVY = [
    "torch",
    "transformers",
    "sentence_transformers",
    "gensim",
    "sklearn",
    "umap",
    "pyarrow",
    "onnxruntime",
    "matplotlib",
    "scipy",
]

PROBE = """
import sys
sys.argv = ["embedcli", *{args!r}]
from embedcli.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


def _imports_for(*args: str, env: dict | None = None) -> list[str]:
    code = PROBE.format(args=list(args), heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    line = [x for x in done.stderr.splitlines() if x.startswith("HEAVY:")][-1]
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def test_help_lists_every_command_and_imports_nothing_heavy():
    assert _imports_for("--help") == []
    done = run_cli("--help", check=True)
    for command in ("train", "embed", "similar", "reduce"):
        assert command in done.stdout.decode()


def test_every_subcommand_help_is_light_and_has_examples():
    for command in ("embed", "train", "similar", "reduce", "models"):
        assert _imports_for(command, "--help") == [], command
        assert "Examples" in run_cli(command, "--help", check=True).stdout.decode(), command


def test_completion_is_light():
    import os

    env = {**os.environ, "_EMBEDCLI_COMPLETE": "complete_bash", "COMP_WORDS": "embedcli em", "COMP_CWORD": "1"}
    assert _imports_for(env=env) == []


def test_completion_completes_commands_and_options():
    import os

    env = {
        **os.environ,
        "_EMBEDCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": "embedcli embed --prec",
        "COMP_CWORD": "2",
    }
    done = subprocess.run([sys.executable, "-m", "embedcli"], env=env, capture_output=True, text=True, check=True)
    assert "--precision" in done.stdout


def test_version():
    assert run_cli("--version", check=True).stdout.decode().strip() == f"embedcli {__version__}"


def test_installed_entry_point_runs():
    script = Path(sys.executable).parent / "embedcli"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert __version__ in done.stdout


def test_completion_scripts_are_current():
    for shell, name in SCRIPTS.items():
        shipped = (REPO / "completions" / name).read_text(encoding="utf-8")
        assert shipped == completion_script(shell), f"completions/{name} is stale: run `make completions`"


def test_unknown_option_is_a_usage_error():
    done = run_cli("embed", "--no-such-option")
    assert done.returncode == 2
    assert b"No such option" in done.stderr
    assert b"Traceback" not in done.stderr
