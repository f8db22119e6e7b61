"""Reading a training config: a TOML file of settings, keyed by the options of `embedcli train`.

    # train.toml: the keys are the option names without their dashes (min-count or min_count)
    algorithm = "fasttext"
    dim = 200
    min-count = 3
    sg = true

Every key is one of `TrainSettings`' config keys (settings.CONFIG_FIELDS), with a value of that setting's
type: a string for a choice (`tokenizer = "words"`), an integer, a float (an integer is taken too) or a
boolean. There is no null in TOML: leave a key out for the default. The `config` recorded in a Parquet
output's metadata or a `--save-model` folder has this shape, so it can be written back as such a file.
"""

from __future__ import annotations

import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from embedcli.errors import UsageError
from embedcli.train.settings import CONFIG_FIELDS, MINIMUMS, TrainSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib


def load_config(path: str | Path) -> dict[str, Any]:
    """The settings in the TOML file at `path`, by config key (dashes read as underscores), each converted to
    its field's type (strings to enums, integers to floats where a float is wanted).

    Raises UsageError, naming the file, for a file that cannot be read or is not TOML; naming the key as well,
    for a key that is no setting, a key given twice (as `min-count` and `min_count`), a value of the wrong
    type or one below the setting's minimum.
    """
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read config file '{path}': {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not a valid TOML file: {exc}") from None
    hints = typing.get_type_hints(TrainSettings)
    settings: dict[str, Any] = {}
    for written, value in raw.items():
        key = written.replace("-", "_")
        if key not in CONFIG_FIELDS:
            raise UsageError(f"{path}: unknown setting '{written}'")
        if key in settings:
            raise UsageError(f"{path}: setting '{key}' is given twice")
        settings[key] = _convert(value, hints[CONFIG_FIELDS[key]], f"{path}: setting '{written}'")
        if key in MINIMUMS and settings[key] < MINIMUMS[key]:
            raise UsageError(f"{path}: setting '{written}' must be at least {MINIMUMS[key]}, not {value!r}")
    return settings


def _convert(value: Any, hint: Any, where: str) -> Any:
    """`value` as the type `hint` names (X, or X | None), or UsageError starting with `where`."""
    if isinstance(hint, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if isinstance(hint, type) and issubclass(hint, Enum):
        choices = [member.value for member in hint]
        if value not in choices:
            raise UsageError(f"{where} must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return hint(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int in Python, but not in a config: `dim = true` is a mistake
    if isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool):
        return value
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise UsageError(f"{where} must be {names.get(hint, hint.__name__)}, not {_toml_type(value)} ({value!r})")


def _toml_type(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return kinds.get(type(value), type(value).__name__)


__all__ = ["load_config"]
