"""Writes the shell completion scripts shipped in completions/ (`make completions`).

The scripts are Typer's: they call `embedcli` itself at completion time, so they stay right as commands change,
but the glue must match the Typer version in use; a test regenerates them and fails when they are stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = {"bash": "embedcli.bash", "zsh": "_embedcli", "fish": "embedcli.fish"}


def completion_script(shell: str) -> str:
    """The completion script Typer generates for `shell`, as `embedcli` would print it, without leading blank lines:
    zsh registers a completion file only when its first line is `#compdef embedcli`."""
    env = {**os.environ, "_EMBEDCLI_COMPLETE": f"source_{shell}"}
    code = "import sys; sys.argv[0] = 'embedcli'; from embedcli.cli.app import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.lstrip("\n")


def write_scripts(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shell, name in SCRIPTS.items():
        path = directory / name
        path.write_text(completion_script(shell), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_scripts(Path(sys.argv[1] if len(sys.argv) > 1 else "completions")):
        print(path, file=sys.stderr)
