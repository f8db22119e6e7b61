"""The lazily registered commands are the commands Typer would register eagerly: same help, same options, and the
summaries `embedcli --help` shows without importing them are those of the commands' docstrings."""

from __future__ import annotations

import importlib
import inspect

import pytest
import typer
from typer.testing import CliRunner

from embedcli.cli.app import COMMANDS, app


def eager_app() -> typer.Typer:
    """The root app as it was written before the lazy group: every command registered with app.command()."""
    eager = typer.Typer(
        name="embedcli",
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name, command in COMMANDS.items():
        module = importlib.import_module(command.module)
        eager.command(epilog=getattr(module, "EPILOG", None))(getattr(module, name))
    return eager


@pytest.mark.parametrize("name", list(COMMANDS))
def test_summary_is_the_first_paragraph_of_the_docstring(name: str) -> None:
    function = getattr(importlib.import_module(COMMANDS[name].module), name)
    first = inspect.cleandoc(inspect.getdoc(function) or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(first.split())


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_command_help_is_what_typer_registers_eagerly(name: str, flag: str) -> None:
    runner = CliRunner()
    lazy = runner.invoke(app, [name, flag], env={"COLUMNS": "100"})
    eager = runner.invoke(eager_app(), [name, flag], env={"COLUMNS": "100"})
    assert lazy.exit_code == eager.exit_code == 0
    assert lazy.output == eager.output
    assert f"embedcli {name}" in lazy.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_has_the_options_typer_registers_eagerly(name: str) -> None:
    lazy = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    eager = typer.main.get_command(eager_app()).commands[name]  # type: ignore[attr-defined]
    assert [(p.name, p.opts, p.secondary_opts, p.required) for p in lazy.params] == [
        (p.name, p.opts, p.secondary_opts, p.required) for p in eager.params
    ]
    assert lazy.epilog == eager.epilog and lazy.help == eager.help


def test_an_unknown_command_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["simlar", "x"])
    assert result.exit_code == 2
    assert "No such command 'simlar'" in result.output and "'similar'" in result.output
