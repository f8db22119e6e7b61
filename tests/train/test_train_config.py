"""`embedcli train`'s settings: every option reaches TrainSettings, `--config FILE.toml` under the flags, and the
settings recorded in the outputs, which rerun a training exactly."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from conftest import SHARED_DATA, run_cli

from embedcli.cli.app import app
from embedcli.cli.train_options import NOT_SETTINGS, settings_from
from embedcli.errors import UsageError
from embedcli.formats import InputFormat
from embedcli.tokens import Tokenizer
from embedcli.train.config import load_config
from embedcli.train.settings import CONFIG_FIELDS, MINIMUMS, Algorithm, CorpusMode, Preset, TrainSettings

BOOK = SHARED_DATA / "gutenberg-en" / "1342-0.txt"


def _command() -> Any:
    return typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]


def _settings_params() -> list[Any]:
    return [p for p in _command().params if p.name not in NOT_SETTINGS]


def _parse(args: list[str], config: str | None = None, default_loss: bool = False) -> TrainSettings:
    """What the real `train` command builds from `args`, without training (Typer parses, nothing runs)."""
    ctx = _command().make_context("train", ["corpus.txt", *args])
    return settings_from(ctx, config, default_loss)


def _other_value(param: Any) -> tuple[list[str], Any]:
    """Command-line words that give `param` a value other than its default, and that value."""
    annotation, default = param.type_descriptor.annotation, param.default
    if annotation is bool:  # a flag: the spelling that flips it (None, unset, flips to the first)
        if param.secondary_opts and default is not False:
            return [param.secondary_opts[0]] if default else [param.opts[0]], not default
        return [param.opts[0]], not default
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        value = next(member for member in annotation if member != default)
        return [param.opts[0], value.value], value
    if annotation is int:
        value = (default or 0) + 7
        return [param.opts[0], str(value)], value
    if annotation is float:
        value = (default or 0.0) + 0.25
        return [param.opts[0], repr(value)], value
    assert annotation is str, (param.name, annotation)
    return [param.opts[0], "some-other"], "some-other"


def test_every_train_option_reaches_the_settings() -> None:
    """Each option of `train` is a setting (set on the command line, it arrives in TrainSettings and in the
    recorded config) or is listed in NOT_SETTINGS; a renamed or new option fails here, not silently."""
    params = _command().params
    names = {p.name for p in params}
    assert names >= NOT_SETTINGS, NOT_SETTINGS - names  # no stale entry
    settings_params = _settings_params()
    assert {p.name for p in settings_params} == set(CONFIG_FIELDS)  # every setting has its option
    for param in settings_params:
        # a config key is the option's own name: --min-count is min_count (or min-count) in a file
        assert param.opts[0].removeprefix("--").replace("-", "_") == param.name
        args, expected = _other_value(param)
        settings = _parse(args)
        assert getattr(settings, CONFIG_FIELDS[param.name]) == expected, (param.name, args)
        recorded = settings.config()[param.name]
        assert recorded == (expected.value if isinstance(expected, Enum) else expected), param.name
        unchanged = _parse([])
        assert getattr(unchanged, CONFIG_FIELDS[param.name]) != expected, param.name


def test_option_defaults_and_bounds_are_the_settings_own() -> None:
    defaults = TrainSettings()
    for param in _settings_params():
        if param.name == "loss":  # unset: on when the progress bar shows (the command decides)
            assert param.default is None
            continue
        assert param.default == getattr(defaults, param.name), param.name
        assert param.min == MINIMUMS.get(param.name), param.name


def test_unset_loss_follows_the_progress_bar_and_a_flag_wins() -> None:
    assert _parse([], default_loss=True).compute_loss is True
    assert _parse([], default_loss=False).compute_loss is False
    assert _parse(["--no-loss"], default_loss=True).compute_loss is False


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_flag_given_overrides_the_file_even_at_its_default(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "train.toml",
        'dim = 50\nmin-count = 2\nsg = true\ntokenizer = "words"\ncorpus_mode = "iterable"\nloss = true\n',
    )
    from_file = _parse([], config)
    assert (from_file.dim, from_file.min_count, from_file.sg) == (50, 2, True)
    assert from_file.tokenizer is Tokenizer.words and from_file.corpus_mode is CorpusMode.iterable
    assert from_file.compute_loss is True
    # --dim 100 and --corpus-mode auto are the defaults: given on the command line, they still win
    flags = _parse(["--dim", "100", "--cbow", "--corpus-mode", "auto", "--no-loss", "--window", "3"], config)
    assert (flags.dim, flags.sg, flags.corpus_mode, flags.compute_loss) == (100, False, CorpusMode.auto, False)
    assert (flags.min_count, flags.tokenizer, flags.window) == (2, Tokenizer.words, 3)  # the file's, and a flag's


def test_config_reads_every_setting_with_dashes_or_underscores(tmp_path: Path) -> None:
    settings = TrainSettings(
        algorithm=Algorithm.fasttext, preset=Preset.items, tokenizer=Tokenizer.regex, token_pattern=r"\w+",
        lowercase=True, phrases=True, phrases_min_count=4, phrases_threshold=7.5, dim=32, window=3, min_count=2,
        max_vocab_size=10_000, max_final_vocab=900, sample=0.0, sg=True, hs=True, negative=0, alpha=0.05,
        min_alpha=0.001, epochs=3, workers=2, seed=9, shrink_windows=False, min_n=2, max_n=4, bucket=1000,
        corpus_mode=CorpusMode.iterable, compute_loss=True, input_format=InputFormat.jsonl, text_field="body",
        id_field="key", text_column="t", id_column="k", encoding="latin-1", errors="replace",
        x_max=10.0, eta=0.1,
    )  # fmt: skip
    assert len(settings.config()) == len(CONFIG_FIELDS)  # every setting, none left unset (None)
    lines = []
    for i, (key, value) in enumerate(settings.config().items()):
        written = key.replace("_", "-") if i % 2 else key
        lines.append(f"{written} = {json.dumps(value)}")
    path = _write(tmp_path / "all.toml", "\n".join(lines) + "\n")
    values = load_config(path)
    assert TrainSettings.from_config(values) == settings
    assert isinstance(values["sample"], float) and isinstance(values["algorithm"], Algorithm)
    assert load_config(_write(tmp_path / "int.toml", "alpha = 1\n")) == {"alpha": 1.0}  # an integer for a float


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dimm = 3\n", "unknown setting 'dimm'"),
        ("output = 'v.bin'\n", "unknown setting 'output'"),  # a per-run option, not a setting
        ("[model]\ndim = 3\n", "unknown setting 'model'"),
        ("min-count = 3\nmin_count = 4\n", "setting 'min_count' is given twice"),
        ("dim = '3'\n", "setting 'dim' must be an integer, not a string ('3')"),
        ("dim = 3.0\n", "setting 'dim' must be an integer, not a float (3.0)"),
        ("dim = true\n", "setting 'dim' must be an integer, not a boolean (True)"),
        ("sg = 1\n", "setting 'sg' must be true or false, not an integer (1)"),
        ("alpha = 'fast'\n", "setting 'alpha' must be a number, not a string ('fast')"),
        ("text-field = 3\n", "setting 'text-field' must be a string, not an integer (3)"),
        ("tokenizer = 'spaces'\n", "setting 'tokenizer' must be one of 'simple', 'whitespace', 'regex', 'words'"),
        ("workers = [1, 2]\n", "setting 'workers' must be an integer, not an array ([1, 2])"),
        ("min-count = 0\n", "setting 'min-count' must be at least 1, not 0"),
        ("dim = \n", "not a valid TOML file"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}: ") and message in caught.value.message
    assert "\n" not in caught.value.message and caught.value.hint is None and caught.value.exit_code == 2


def test_a_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "nothing.toml"
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert caught.value.message == f"cannot read config file '{path}': No such file or directory"


def test_config_digest_follows_the_settings() -> None:
    base = TrainSettings(dim=16, seed=3)
    assert base.config_sha256() == TrainSettings.from_config(base.config()).config_sha256()
    digests = {TrainSettings(dim=16, seed=s).config_sha256() for s in range(5)}
    digests |= {base.config_sha256(), TrainSettings(dim=16, seed=3, text_field="body").config_sha256()}
    assert len(digests) == 6  # seeds 0-4 (3 is base), then text_field


def test_cli_config_errors_are_one_line_exit_2_and_write_nothing(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("a small corpus of words\n" * 20)
    (tmp_path / "train.toml").write_text("dim = 8\nwindoww = 3\n")
    proc = run_cli("train", "corpus.txt", "--config", "train.toml", "-o", "v.bin", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().splitlines() == ["error: train.toml: unknown setting 'windoww'"]
    (tmp_path / "train.toml").write_text("epochs = 'five'\n")
    proc = run_cli("train", "corpus.txt", "--config", "train.toml", "-o", "v.bin", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        "error: train.toml: setting 'epochs' must be an integer, not a string ('five')"
    ]
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt", "train.toml"]


def _toml(config: dict[str, Any]) -> str:
    """A flat mapping of strings, numbers and booleans as TOML (JSON's spellings are TOML's for these)."""
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items())


def _recorded(path: Path) -> dict[str, Any]:
    import orjson
    import pyarrow.parquet as pq

    from embedcli.formats.outputs import METADATA_KEY

    return orjson.loads(pq.read_schema(path).metadata[METADATA_KEY])


def _table(path: Path) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.column("word").to_pylist(), np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)


@pytest.mark.slow
def test_recorded_settings_rerun_the_training_exactly(tmp_path: Path) -> None:
    """Train with a config and flags over it; write the settings recorded in the output back as TOML; train
    again from that file alone: the same settings, digest and vectors, bit for bit."""
    (tmp_path / "book.txt").write_bytes(b"\n".join(BOOK.read_bytes().split(b"\n")[:3000]))
    (tmp_path / "train.toml").write_text(
        'dim = 32\nmin-count = 3\nepochs = 1\nworkers = 1\nseed = 11\nwindow = 4\ntokenizer = "words"\n'
    )
    run_cli(
        "train", "book.txt", "--config", "train.toml", "--dim", "12", "--sg", "--lowercase", "--epochs", "2",
        "-o", "first.parquet", "--save-model", "first-model", "-q", cwd=tmp_path, check=True,
    )  # fmt: skip
    first = _recorded(tmp_path / "first.parquet")
    config = first["config"]
    assert (config["dim"], config["sg"], config["lowercase"], config["epochs"]) == (12, True, True, 2)  # flags
    assert (config["min_count"], config["workers"], config["seed"], config["window"]) == (3, 1, 11, 4)  # file
    assert config["tokenizer"] == "words" and config["algorithm"] == "word2vec" and config["loss"] is False
    assert TrainSettings.from_config(config).config_sha256() == first["config_sha256"]
    assert first["settings"]["vector_size"] == 12 and first["settings"]["window"] == 4  # what gensim was given
    marker = json.loads((tmp_path / "first-model" / "embedcli-model.json").read_text())
    assert marker["config"] == config and marker["config_sha256"] == first["config_sha256"]

    (tmp_path / "recorded.toml").write_text(_toml(config))
    run_cli("train", "book.txt", "--config", "recorded.toml", "-o", "second.parquet", "-q", cwd=tmp_path, check=True)
    second = _recorded(tmp_path / "second.parquet")
    assert second["config"] == config and second["config_sha256"] == first["config_sha256"]
    words, vectors = _table(tmp_path / "first.parquet")
    again_words, again_vectors = _table(tmp_path / "second.parquet")
    assert again_words == words and len(words) > 500
    assert vectors.shape == (len(words), 12)
    np.testing.assert_array_equal(again_vectors, vectors)
