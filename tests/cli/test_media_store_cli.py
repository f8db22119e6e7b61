"""Images into a `.lance` store, as users run it with a tiny random CLIP (the fixtures of test_media_cli): a re-run
embeds nothing, an edited file (its bytes) and a new one are embedded again, vectors equal the Parquet run's, the
folder is recorded for `reduce --thumbnails`, and `--on-error skip` is refused with its reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from test_media_cli import clip_dir, fails, invoke, photos, read  # noqa: F401  (clip_dir, photos: fixtures)

from embedcli.formats.lance_store import open_store


def _summary(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if " new, " in line)


def test_images_into_a_store_embed_only_new_and_changed_files(
    clip_dir: Path,  # noqa: F811
    photos: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos"
    shutil.copytree(photos, folder)
    store, parquet = tmp_path / "kb.lance", tmp_path / "v.parquet"
    args = ["--model", str(clip_dir)]
    first = invoke("embed", str(folder), *args, "-o", str(store))
    assert _summary(first.stderr).startswith("5 new, 0 changed, 0 unchanged")
    again = invoke("embed", str(folder), *args, "-o", str(store))
    assert _summary(again.stderr).startswith("0 new, 0 changed, 5 unchanged") and "0 embedded" in again.stderr

    (folder / "b.png").write_bytes((photos / "e.png").read_bytes())  # same name, other bytes
    (folder / "f.png").write_bytes((photos / "a.png").read_bytes())
    third = invoke("embed", str(folder), *args, "-o", str(store))
    assert _summary(third.stderr).startswith("1 new, 1 changed, 4 unchanged") and "2 embedded" in third.stderr

    invoke("embed", str(folder), *args, "-o", str(parquet), "-q")
    ids, vectors, _ = read(parquet)
    table = open_store(store).to_vector_table(with_text=False)
    by_id = dict(zip(table.ids, np.asarray(table.vectors), strict=True))
    assert sorted(by_id) == sorted(ids)
    np.testing.assert_allclose(np.stack([by_id[i] for i in ids]), vectors, atol=1e-5)
    recorded = open_store(store).provenance
    assert recorded["modality"] == "image" and recorded["media_root"] == str(folder)


def test_skipping_bad_files_into_a_store_is_refused_with_its_reason(
    clip_dir: Path,  # noqa: F811
    photos: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = tmp_path / "kb.lance"
    refused = fails("embed", str(photos), "--model", str(clip_dir), "--on-error", "skip", "-o", str(store), code=2)
    assert "a store keeps one row per input file" in refused.splitlines()[0], refused
    assert not store.exists()


def test_a_file_and_a_folder_give_paths_as_named_under_the_recorded_folder(
    clip_dir: Path,  # noqa: F811
    photos: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "v.parquet"
    invoke("embed", str(photos / "a.png"), str(photos / "sub"), "--model", str(clip_dir), "-o", str(out), "-q")
    ids, _, provenance = read(out)
    assert ids == [str(photos / "a.png"), str(photos / "sub" / "c.png")]
    assert all((Path(provenance.media_root or "") / i).is_file() for i in ids)
