"""help: start-up of `embedcli --help` and of a TAB completion, against a bare Typer app with as many commands.

Every side is a fresh interpreter, timed wall-clock from spawn to exit, and the sides take turns within each round
(interleaved, in a rotating order), so a burst of load on this shared machine hits them alike; the figure is the
median over the rounds (the minimum, printed beside it, is the figure least touched by other load). Sides:
  embedcli -m        python -m embedcli --help, importing this checkout (PYTHONPATH)
  embedcli script    the installed `embedcli` console script beside this interpreter, if there is one (also run
                     with PYTHONPATH=this checkout)
  bare Typer         a generated one-file Typer app: the same root settings (rich markup, help text, -h) and as many
                     commands as embedcli, each with a docstring and one option
  python             `python -c pass`: the interpreter alone, the floor under every side
and the same for a bash TAB completion of a command name (`embedcli em<TAB>`).
Target: embedcli --help <= 1.3x the bare Typer app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.3

BARE_APP = """
import typer

app = typer.Typer(
    name="bare",
    help="A bare Typer app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={{"help_option_names": ["-h", "--help"]}},
)
{commands}

if __name__ == "__main__":
    app(prog_name="bare")
"""

BARE_COMMAND = '''

@app.command()
def {name}(value: str = typer.Option("", "--value", help="A value.")) -> None:
    """Command {name}: does nothing."""
'''


def command_names() -> list[str]:
    """The names of embedcli's commands (importing the CLI here does not touch the timed subprocesses)."""
    sys.path.insert(0, str(REPO))
    from embedcli.cli.app import app

    return [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]


def write_bare_app(folder: Path, count: int) -> Path:
    path = folder / "bare.py"
    commands = "".join(BARE_COMMAND.format(name=f"command{i}") for i in range(count))
    path.write_text(BARE_APP.format(commands=commands), encoding="utf-8")
    return path


def sides(bare: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv for --help, extra environment); completion reuses the argv without --help."""
    python = sys.executable
    found: dict[str, tuple[list[str], dict[str, str]]] = {
        "embedcli -m": ([python, "-m", "embedcli", "--help"], {}),
        "bare Typer": ([python, str(bare), "--help"], {}),
        "python": ([python, "-c", "pass"], {}),
    }
    script = Path(python).parent / "embedcli"
    if script.is_file():
        found["embedcli script"] = ([str(script), "--help"], {})
    return found


def completion_env(side: str) -> dict[str, str]:
    prog = "BARE" if side == "bare Typer" else "EMBEDCLI"
    words = "bare comm" if side == "bare Typer" else "embedcli em"
    return {f"_{prog}_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "1"}


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def measure(
    table: dict[str, tuple[list[str], dict[str, str]]], rounds: int, complete: bool
) -> dict[str, tuple[float, float]]:
    """(median, minimum) seconds per side."""
    base = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    names = list(table)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(1):  # warm the file cache once, untimed
        for name in names:
            argv, extra = table[name]
            run_once(argv, {**base, **extra})
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv, extra = table[name]
            if complete and name != "python":
                argv, extra = argv[:-1], {**extra, **completion_env(name)}
            times[name].append(run_once(argv, {**base, **extra}))
    return {name: (statistics.median(values), min(values)) for name, values in times.items()}


def report(title: str, figures: dict[str, tuple[float, float]]) -> float:
    """Print one table; return embedcli's median over the bare app's."""
    bare, bare_min = figures["bare Typer"]
    python = figures["python"][0]
    print(title)
    print(f"  {'side':<16} {'median ms':>10} {'vs bare':>8} {'above python':>13} {'min ms':>8} {'vs bare':>8}")
    for name, (value, least) in figures.items():
        above = (value - python) * 1000
        print(
            f"  {name:<16} {value * 1000:>10.0f} {value / bare:>7.2f}x {above:>10.0f} ms"
            f" {least * 1000:>8.0f} {least / bare_min:>7.2f}x"
        )
    return figures["embedcli -m"][0] / bare


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds: a smoke test, not a measurement")
    parser.add_argument("--rounds", type=int, default=21, help="timed runs per side (median taken)")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    names = command_names()
    with tempfile.TemporaryDirectory(prefix="bench_help_") as tmp:
        bare = write_bare_app(Path(tmp), len(names))
        table = sides(bare)
        print(f"{len(names)} commands ({', '.join(names)}); {rounds} interleaved rounds; noisy on a shared machine")
        helps = measure(table, rounds, complete=False)
        completions = measure(table, rounds, complete=True)
    results = {
        "help_x_bare": report("--help", helps),
        "completion_x_bare": report("TAB completion of a command name", completions),
        "help_ms": helps["embedcli -m"][0] * 1000,
        "bare_help_ms": helps["bare Typer"][0] * 1000,
    }
    print(
        f"embedcli --help: {results['help_x_bare']:.2f}x the bare Typer app (target <= {TARGET}x); "
        f"TAB: {results['completion_x_bare']:.2f}x"
    )
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
