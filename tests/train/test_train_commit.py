"""train's outputs appear together or not at all: a model that cannot be saved leaves no vectors behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED_DATA
from typer.testing import CliRunner

from embedcli.cli.app import app


def test_a_failed_save_model_leaves_no_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import embedcli.train.run as run

    text = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig")[:100_000]
    (tmp_path / "book.txt").write_text(text)

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "model"))

    monkeypatch.setattr(run, "save_model", fail)
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(tmp_path / "book.txt"),
            "--dim",
            "8",
            "--epochs",
            "1",
            "--workers",
            "1",
            "-o",
            str(tmp_path / "v.parquet"),
            "--save-model",
            str(tmp_path / "model"),
            "-q",
        ],
    )
    assert result.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.txt"]  # no vectors, no temp file
