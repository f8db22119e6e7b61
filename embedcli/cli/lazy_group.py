"""A Typer group whose commands are imported only when one of them is run, asked for its --help or completed.

`embedcli --help` and the TAB completion of a command name need each command's name and one-line summary, not its
options: the group lists them from a registry (`LazyCommand`: module and summary) and builds a command with Typer
(`typer.main.get_command`, the same path `app.command()` takes) the first time it is resolved. So `embedcli --help`
imports no command module, and `embedcli embed --help` imports only `embedcli.cli.embed`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and what `embedcli --help` says of it, without importing it.

    `module` defines a function named as the command (its docstring is the command's help) and may define EPILOG
    (examples shown under the command's --help). `summary` is the first paragraph of that docstring on one line;
    a test checks the two agree."""

    module: str
    summary: str


# Values are Any: the group's mapping is typed with click's Command, which Typer vendors privately; every value here
# is a TyperCommand.
class _Commands(MutableMapping[str, Any]):
    """The group's commands by name: a command is imported and built the first time it is looked up."""

    def __init__(self, registry: Mapping[str, LazyCommand], rich_markup_mode: Any) -> None:
        self._registry = registry
        self._markup = rich_markup_mode
        self._built: dict[str, TyperCommand] = {}

    def loaded(self, name: str) -> TyperCommand | None:
        return self._built.get(name)

    def __getitem__(self, name: str) -> TyperCommand:
        if name not in self._built:
            if name not in self._registry:
                raise KeyError(name)
            self._built[name] = _build(name, self._registry[name].module, self._markup)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if not isinstance(command, TyperCommand):
            raise TypeError(f"{name}: a lazy group holds Typer commands, not {type(command).__name__}")
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._registry), **dict.fromkeys(self._built)})

    def __len__(self) -> int:
        return len(set(self._registry) | set(self._built))


def _build(name: str, module_name: str, rich_markup_mode: Any) -> TyperCommand:
    """The command `name` exactly as `app.command(epilog=module.EPILOG)(module.name)` would register it."""
    module = importlib.import_module(module_name)
    # The settings that shape a command (markup, exception display) are those of the root app; completion options
    # belong to the root alone.
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=rich_markup_mode)
    single.command(name=name, epilog=getattr(module, "EPILOG", None))(getattr(module, name))
    command = typer.main.get_command(single)
    assert isinstance(command, TyperCommand)  # an app of one command and no callback is that command
    return command


class LazyGroup(TyperGroup):
    """A TyperGroup over `registry` (set it in a subclass, which is what `typer.Typer(cls=...)` takes)."""

    registry: ClassVar[Mapping[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._lazy = _Commands(self.registry, self.rich_markup_mode)
        self.commands = self._lazy

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    # ctx is Any: the base annotates it with click's Context, which Typer vendors privately (typer.Context, its
    # public subclass, would narrow the parameter).
    def get_command(self, ctx: Any, cmd_name: str) -> TyperCommand | None:
        """A listing (help, completion of a command name) gets a stand-in that carries the name and summary; the
        command itself is built by `resolve_command`, when it is run, completed or asked for its --help."""
        built = self._lazy.loaded(cmd_name)
        if built is not None or cmd_name not in self.registry:
            return built
        return TyperCommand(cmd_name, help=self.registry[cmd_name].summary, rich_markup_mode=self.rich_markup_mode)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, TyperCommand | None, list[str]]:
        name, _, rest = super().resolve_command(ctx, args)  # checks the name, suggests a close one
        return name, (None if name is None else self._lazy[name]), rest
