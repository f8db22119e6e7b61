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
  embedcli (DIR)     with --against DIR: python -m embedcli --help importing another checkout (an earlier commit,
                     say), timed in the same rounds, for a before/after figure side by side
and the same for a bash TAB completion of a command name (`embedcli em<TAB>`).
Target: embedcli --help <= 1.3x the bare Typer app.
"""

from __future__ import annotations

import argparse
import os
import resource
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
    from embedcli.cli.app import COMMANDS

    return list(COMMANDS)


def write_bare_app(folder: Path, count: int) -> Path:
    path = folder / "bare.py"
    commands = "".join(BARE_COMMAND.format(name=f"command{i}") for i in range(count))
    path.write_text(BARE_APP.format(commands=commands), encoding="utf-8")
    return path


def sides(bare: Path, against: Path | None = None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv for --help, extra environment); completion reuses the argv without --help."""
    python = sys.executable
    found: dict[str, tuple[list[str], dict[str, str]]] = {
        "embedcli -m": ([python, "-m", "embedcli", "--help"], {}),
        "bare Typer": ([python, str(bare), "--help"], {}),
        "python": ([python, "-c", "pass"], {}),
    }
    if against is not None:
        found[f"embedcli ({against.name})"] = ([python, "-m", "embedcli", "--help"], {"PYTHONPATH": str(against)})
    script = Path(python).parent / "embedcli"
    if script.is_file():
        found["embedcli script"] = ([str(script), "--help"], {})
    return found


def completion_env(side: str) -> dict[str, str]:
    prog = "BARE" if side == "bare Typer" else "EMBEDCLI"  # every other side is an embedcli
    words = "bare comm" if side == "bare Typer" else "embedcli em"
    return {f"_{prog}_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "1"}


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run. CPU time (user + system of the child) is what load on a shared machine
    disturbs least: a start-up that waits for a core shows it in wall time only."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return elapsed, cpu


def measure(
    table: dict[str, tuple[list[str], dict[str, str]]], rounds: int, complete: bool
) -> dict[str, tuple[float, float, float]]:
    """(median wall, minimum wall, median CPU) seconds per side."""
    base = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    names = list(table)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(1):  # warm the file cache once, untimed
        for name in names:
            argv, extra = table[name]
            run_once(argv, {**base, **extra})
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv, extra = table[name]
            if complete and name != "python":
                argv, extra = argv[:-1], {**extra, **completion_env(name)}
            wall, cpu = run_once(argv, {**base, **extra})
            times[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: (statistics.median(values), min(values), statistics.median(cpus[name])) for name, values in times.items()
    }


def report(title: str, figures: dict[str, tuple[float, float, float]]) -> float:
    """Print one table; return embedcli's median over the bare app's."""
    bare, bare_min, bare_cpu = figures["bare Typer"]
    python = figures["python"][0]
    print(title)
    print(
        f"  {'side':<22} {'median ms':>10} {'vs bare':>8} {'above python':>13} {'min ms':>8} {'vs bare':>8}"
        f" {'cpu ms':>8} {'vs bare':>8}"
    )
    for name, (value, least, cpu) in figures.items():
        above = (value - python) * 1000
        print(
            f"  {name:<22} {value * 1000:>10.0f} {value / bare:>7.2f}x {above:>10.0f} ms"
            f" {least * 1000:>8.0f} {least / bare_min:>7.2f}x {cpu * 1000:>8.0f} {cpu / bare_cpu:>7.2f}x"
        )
    return figures["embedcli -m"][0] / bare


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds: a smoke test, not a measurement")
    parser.add_argument("--rounds", type=int, default=21, help="timed runs per side (median taken)")
    parser.add_argument("--against", type=Path, help="another checkout of embedcli to time beside this one")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    names = command_names()
    with tempfile.TemporaryDirectory(prefix="bench_help_") as tmp:
        bare = write_bare_app(Path(tmp), len(names))
        table = sides(bare, args.against.resolve() if args.against else None)
        # `python -m` puts the working folder first on sys.path, ahead of PYTHONPATH: run every side from the empty
        # temporary folder, so each imports the checkout it names, not the one the bench was started in.
        started_in = Path.cwd()
        os.chdir(tmp)
        print(f"{len(names)} commands ({', '.join(names)}); {rounds} interleaved rounds; noisy on a shared machine")
        helps = measure(table, rounds, complete=False)
        completions = measure(table, rounds, complete=True)
        os.chdir(started_in)
    results = {
        "help_x_bare": report("--help", helps),
        "completion_x_bare": report("TAB completion of a command name", completions),
        "help_ms": helps["embedcli -m"][0] * 1000,
        "bare_help_ms": helps["bare Typer"][0] * 1000,
    }
    if args.against is not None:
        other = f"embedcli ({args.against.name})"
        results["against_help_x_bare"] = helps[other][0] / helps["bare Typer"][0]
        results["against_completion_x_bare"] = completions[other][0] / completions["bare Typer"][0]
        print(
            f"{other} --help: {results['against_help_x_bare']:.2f}x the bare Typer app; "
            f"TAB: {results['against_completion_x_bare']:.2f}x"
        )
    print(
        f"embedcli --help: {results['help_x_bare']:.2f}x the bare Typer app (target <= {TARGET}x); "
        f"TAB: {results['completion_x_bare']:.2f}x"
    )
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
