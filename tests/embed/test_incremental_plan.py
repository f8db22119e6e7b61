"""The incremental planner and `update_store` against a real Lance store: what is embedded, skipped, pruned."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lance")

from embedcli.embed.incremental import (
    Change,
    Planner,
    check_settings,
    content_hash,
    settings_mismatch,
    update_store,
)
from embedcli.errors import InputError, UsageError
from embedcli.formats.lance_store import create_store, open_store
from embedcli.precision import Precision

DIM = 6
SETTINGS = {"model": "tiny", "backend": "sentence-transformers", "dimension": DIM, "precision": "float32"}


class CountingEmbedder:
    """A deterministic stand-in for a model: each text's vector is seeded by its digest; counts texts seen."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.stack([vector_of(t) for t in texts])


def vector_of(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def records(texts: dict[str, str], name: str = "docs.jsonl") -> list[tuple[str, str, str]]:
    return [(i, t, f"{name}:{n}") for n, (i, t) in enumerate(texts.items(), start=1)]


def stored_rows(path: Path) -> dict[str, np.ndarray]:
    return {i: v for b in open_store(path).iter_batches() for i, v in zip(b.ids, b.vectors, strict=True)}


CORPUS = {f"d{i}": f"sentence number {i} about refunds" for i in range(40)}


def test_content_hash_is_a_stable_digest() -> None:
    assert content_hash("é") == hashlib.blake2b("é".encode(), digest_size=16).hexdigest()
    assert len(content_hash("")) == 32 and content_hash("a") != content_hash("a ")
    assert (
        content_hash("x\udcff")
        == hashlib.blake2b("x\udcff".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    )


def test_planner_verdicts_and_prune() -> None:
    planner = Planner({"a": content_hash("old"), "b": content_hash("same"), "gone": content_hash("x")})
    verdicts = [p.change for p in planner.plan([("a", "new text", "f:1"), ("b", "same", "f:2"), ("c", "n", "f:3")])]
    assert verdicts == [Change.changed, Change.unchanged, Change.new]
    assert planner.absent() == ["gone"]
    summary = planner.summary
    assert (summary.new, summary.changed, summary.unchanged) == (1, 1, 1)


def test_planner_hashes_the_text_after_the_prompt() -> None:
    (planned,) = Planner({}, prompt="query: ").plan([("a", "hi", "f:1")])
    assert planned.hash == content_hash("query: hi") and planned.text == "hi"


def test_a_duplicate_id_names_both_places() -> None:
    planner = Planner({})
    with pytest.raises(InputError, match=r"'d1' occurs twice in the input: docs.jsonl:3 and docs.jsonl:17"):
        list(planner.plan([("d1", "a", "docs.jsonl:3"), ("d2", "b", "docs.jsonl:4"), ("d1", "c", "docs.jsonl:17")]))


def test_settings_mismatch_names_both_values() -> None:
    assert settings_mismatch(SETTINGS, dict(SETTINGS)) is None
    assert settings_mismatch(SETTINGS, {**SETTINGS, "embedcli_version": "9"}) is None  # not a vector setting
    line = settings_mismatch(SETTINGS, {**SETTINGS, "model": "big"})
    assert line == 'the store was made with model "tiny" and this run uses model "big"'
    assert "truncate_dim (none)" in str(settings_mismatch(SETTINGS, {**SETTINGS, "truncate_dim": 3}))
    with pytest.raises(UsageError, match="precision") as raised:
        check_settings("kb.lance", SETTINGS, {**SETTINGS, "precision": "int8"})
    assert "--rebuild" in str(raised.value.hint)


def test_rerun_embeds_nothing_and_edits_embed_exactly_what_changed(tmp_path: Path) -> None:
    store = create_store(tmp_path / "kb.lance", SETTINGS, Precision.float32, DIM)
    first = CountingEmbedder()
    summary = update_store(store, records(CORPUS), first, embed_rows=16, commit_rows=10)
    assert (summary.new, summary.embedded, len(first.texts)) == (40, 40, 40)
    versions_after_first = open_store(store.path).latest_version

    again = CountingEmbedder()
    summary = update_store(open_store(store.path), records(CORPUS), again)
    assert again.texts == [] and (summary.unchanged, summary.embedded) == (40, 0)
    assert open_store(store.path).latest_version == versions_after_first  # no empty commits

    edited = {k: v for k, v in CORPUS.items() if k != "d5"}
    edited["d3"] = "an edited sentence"
    edited["d40"] = "an added sentence"
    third = CountingEmbedder()
    summary = update_store(open_store(store.path), records(edited), third, prune=True)
    assert sorted(third.texts) == ["an added sentence", "an edited sentence"]
    assert (summary.new, summary.changed, summary.unchanged, summary.deleted) == (1, 1, 38, 1)
    rows = stored_rows(store.path)
    assert sorted(rows) == sorted(edited)
    for key, text in edited.items():
        np.testing.assert_array_equal(rows[key], vector_of(text))
    changes = [(v.operation, v.inserted, v.updated, v.deleted) for v in open_store(store.path).versions()[-2:]]
    assert changes == [("upsert", 1, 1, None), ("delete", None, None, 1)]


def test_without_prune_absent_ids_stay(tmp_path: Path) -> None:
    store = create_store(tmp_path / "kb.lance", SETTINGS, Precision.float32, DIM)
    update_store(store, records(CORPUS), CountingEmbedder())
    summary = update_store(open_store(store.path), records({"d1": CORPUS["d1"]}), CountingEmbedder())
    assert summary.deleted == 0 and open_store(store.path).count_rows() == 40


def test_a_settings_mismatch_leaves_the_store_untouched(tmp_path: Path) -> None:
    store = create_store(tmp_path / "kb.lance", SETTINGS, Precision.float32, DIM)
    update_store(store, records(CORPUS), CountingEmbedder())
    files_before = sorted(p.relative_to(store.path) for p in store.path.rglob("*"))
    reopened = open_store(store.path)
    with pytest.raises(UsageError, match="model"):
        check_settings(str(store.path), reopened.provenance, {**SETTINGS, "model": "other"})
    assert sorted(p.relative_to(store.path) for p in store.path.rglob("*")) == files_before
    assert open_store(store.path).latest_version == reopened.version


def test_a_duplicate_keeps_what_was_committed_before_it(tmp_path: Path) -> None:
    store = create_store(tmp_path / "kb.lance", SETTINGS, Precision.float32, DIM)
    items = [*records(CORPUS), ("d0", "again", "docs.jsonl:41")]
    with pytest.raises(InputError, match=r"docs\.jsonl:1 and docs\.jsonl:41"):
        update_store(store, items, CountingEmbedder(), embed_rows=8, commit_rows=8)
    assert open_store(store.path).count_rows() == 40  # whole rows, committed on the way out
