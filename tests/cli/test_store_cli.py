"""`embed -o NAME.lance` as a batch script uses it: create, re-run, update by id, prune, refuse other settings;
then the store is a corpus for similar, reduce, inspect and info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

pytest.importorskip("lance")

DOCS = [
    {"id": "a", "body": "How do I reset my password?"},
    {"id": "b", "body": "What is your refund policy?"},
    {"id": "c", "body": "The cat sat on the warm windowsill."},
]


def write_docs(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def embed(tmp_path: Path, model: Path, docs: Path, *extra: str):
    return run_cli(
        "embed",
        str(docs),
        "--id-field",
        "id",
        "--text-field",
        "body",
        "-m",
        str(model),
        "-o",
        str(tmp_path / "kb.lance"),
        *extra,
    )


def store_rows(path: Path) -> dict[str, np.ndarray]:
    from embedcli.formats.lance_store import open_store

    table = open_store(path).to_vector_table()
    return dict(zip(table.ids, np.asarray(table.vectors), strict=True))


def test_re_runs_embed_only_what_changed_and_prune_deletes(tiny_st_dir: Path, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", DOCS)
    first = embed(tmp_path, tiny_st_dir, docs)
    assert first.returncode == 0, first.stderr
    assert b"3 new, 0 changed, 0 unchanged, 0 deleted; 3 embedded" in first.stderr
    before = store_rows(tmp_path / "kb.lance")
    again = embed(tmp_path, tiny_st_dir, docs)
    assert b"0 new, 0 changed, 3 unchanged, 0 deleted; 0 embedded" in again.stderr
    edited = [DOCS[0], {"id": "b", "body": "Refunds take thirty days."}, {"id": "d", "body": "A new question."}]
    v2 = write_docs(tmp_path / "docs-v2.jsonl", edited)
    kept = embed(tmp_path, tiny_st_dir, v2)
    assert b"1 new, 1 changed, 1 unchanged, 0 deleted; 2 embedded" in kept.stderr
    assert sorted(store_rows(tmp_path / "kb.lance")) == ["a", "b", "c", "d"]
    pruned = embed(tmp_path, tiny_st_dir, v2, "--prune")
    assert b"0 new, 0 changed, 3 unchanged, 1 deleted; 0 embedded" in pruned.stderr
    after = store_rows(tmp_path / "kb.lance")
    assert sorted(after) == ["a", "b", "d"]
    np.testing.assert_array_equal(after["a"], before["a"])  # unchanged rows keep their vectors
    # each stored vector equals what embedding the file anew gives
    fresh = run_cli("embed", str(v2), "--id-field", "id", "--text-field", "body", "-m", str(tiny_st_dir), "-f", "npy")
    assert fresh.returncode == 0, fresh.stderr
    import io

    matrix = np.load(io.BytesIO(fresh.stdout))
    for row, doc in enumerate(edited):
        np.testing.assert_allclose(after[doc["id"]], matrix[row], atol=1e-6)


def test_other_settings_are_refused_and_the_store_is_untouched(tiny_st_dir: Path, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", DOCS)
    assert embed(tmp_path, tiny_st_dir, docs).returncode == 0
    versions = sorted(p.name for p in (tmp_path / "kb.lance" / "_versions").iterdir())
    refused = embed(tmp_path, tiny_st_dir, docs, "--normalize")
    assert refused.returncode == 2 and b"normalized" in refused.stderr and b"--rebuild" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "kb.lance" / "_versions").iterdir()) == versions
    rebuilt = embed(tmp_path, tiny_st_dir, docs, "--normalize", "--rebuild")
    assert rebuilt.returncode == 0 and b"3 new" in rebuilt.stderr


def test_a_duplicate_id_is_an_error_naming_both(tiny_st_dir: Path, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", [*DOCS, {"id": "a", "body": "again"}])
    done = embed(tmp_path, tiny_st_dir, docs)
    assert done.returncode == 1 and b"record 1" in done.stderr and b"record 4" in done.stderr


def test_a_store_is_a_corpus_everywhere(tiny_st_dir: Path, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", DOCS)
    assert embed(tmp_path, tiny_st_dir, docs).returncode == 0
    store = str(tmp_path / "kb.lance")
    hits = run_cli("similar", store, "--queries", "-", "-k", "1", input=b"What is your refund policy?\n")
    assert hits.returncode == 0, hits.stderr
    assert json.loads(hits.stdout.splitlines()[0])["id"] == "b"
    reduced = run_cli("reduce", store, "--dim", "2", "-o", str(tmp_path / "map.parquet"))
    assert reduced.returncode == 0, reduced.stderr
    described = json.loads(run_cli("info", store, "--json", check=True).stdout)
    assert described["rows"] == 3 and described["format"] == "lance"
    assert described["provenance"]["model"] == str(tiny_st_dir)
    assert [v["operation"] for v in described["versions"]] == ["create", "insert"]
    older = run_cli("similar", store, "--version", "1", "x")
    assert older.returncode == 1 and b"has no rows" in older.stderr
    flat = json.loads(run_cli("info", str(tmp_path / "map.parquet"), "--json", check=True).stdout)
    assert flat["rows"] == 3 and flat["dimension"] == 2


def test_a_store_cannot_go_to_stdout_and_needs_no_flags_elsewhere(tiny_st_dir: Path, tmp_path: Path) -> None:
    done = run_cli("embed", "-t", "x", "-m", str(tiny_st_dir), "-f", "lance")
    assert done.returncode == 2 and b"cannot go to stdout" in done.stderr
    done = run_cli("embed", "-t", "x", "-m", str(tiny_st_dir), "-o", str(tmp_path / "v.parquet"), "--prune")
    assert done.returncode == 2 and b"apply to a store" in done.stderr
