"""`embedcli reduce --thumbnails` on images embedded by a tiny random CLIP (the fixtures of test_media_cli), run as
users run it: the issue's command in the folder of the vector file and from elsewhere (the images are found through
the folder `embed` recorded), missing files named once, refused on text vectors; ids of two folders kept apart."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from test_media_cli import clip_dir, fails, invoke, read  # noqa: F401  (clip_dir: a fixture)

COLOURS = ((255, 0, 255), (0, 255, 0))


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shots/: 12 pictures in two pure colours (none of the map's palette), half in a subfolder."""
    rng = np.random.default_rng(4)
    root = tmp_path_factory.mktemp("work") / "shots"
    (root / "more").mkdir(parents=True)
    for i in range(12):
        colour = np.array(COLOURS[i % 2])
        picture = np.clip(colour + rng.normal(0, 4, (36, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(picture).save(root / ("more" if i >= 6 else "") / f"s{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def embedded(clip_dir: Path, shots: Path) -> Path:  # noqa: F811
    out = shots.parent / "photos.parquet"
    invoke("embed", str(shots), "--model", str(clip_dir), "-o", str(out), "-q")
    return out


def _colour_pixels(png: bytes, colour: tuple[int, int, int]) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(pixels - colour).sum(axis=2) < 40).sum())


def test_embed_records_the_folder_and_the_issue_command_draws_the_pictures(
    embedded: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, provenance = read(embedded)
    assert provenance.media_root == str(shots)
    monkeypatch.chdir(embedded.parent)
    invoke("reduce", "photos.parquet", "--dim", "2", "--plot", "map.png", "--thumbnails", "-o", "reduced.parquet")
    drawn = (embedded.parent / "map.png").read_bytes()
    assert all(_colour_pixels(drawn, c) > 500 for c in COLOURS)  # both colours, as pictures (not as dots)
    invoke("reduce", "photos.parquet", "--dim", "2", "--plot", "plain.png", "-o", "reduced.parquet")
    assert all(_colour_pixels((embedded.parent / "plain.png").read_bytes(), c) == 0 for c in COLOURS)
    # the reduced file keeps the folder, so its own map finds the pictures too
    assert read(embedded.parent / "reduced.parquet")[2].media_root == str(shots)


def test_pictures_are_found_from_another_folder_and_the_page_carries_them(
    embedded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    invoke("reduce", str(embedded), "--plot", "map.html", "--thumbnails", "-o", "r.parquet")
    page = (tmp_path / "map.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 12  # every picture once: 12 points, fewer than the page's bound


def test_missing_pictures_are_counted_and_named_once(embedded: Path, shots: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved.parquet"
    table = pq.read_table(embedded)
    meta = json.loads(table.schema.metadata[b"embedcli"])
    meta["media_root"] = str(tmp_path / "gone")  # as if the folder had been moved away
    (tmp_path / "gone" / "more").mkdir(parents=True)
    for name in ("s00.png", "s01.png", "more/s06.png"):
        (tmp_path / "gone" / name).write_bytes((shots / name).read_bytes())
    pq.write_table(table.replace_schema_metadata({b"embedcli": json.dumps(meta).encode()}), moved)
    done = invoke(
        "reduce", str(moved), "--plot", str(tmp_path / "m.png"), "--thumbnails", "-o", str(tmp_path / "r.parquet")
    )
    lines = [line for line in done.stderr.splitlines() if "thumbnails" in line]
    assert len(lines) == 1 and "9 images of 12 not found under" in lines[0], done.stderr
    assert "more/s07.png" in lines[0] and lines[0].endswith("…") and "Traceback" not in done.stderr
    assert _colour_pixels((tmp_path / "m.png").read_bytes(), COLOURS[0]) > 100  # the pictures found are drawn


def test_thumbnails_on_text_vectors_or_without_a_plot_are_refused(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    table = pa.table({"id": [str(i) for i in range(20)], "embedding": list(vectors)})
    meta = {"modality": "text", "model": "m", "dimension": 8}
    texts = tmp_path / "texts.parquet"
    pq.write_table(table.replace_schema_metadata({b"embedcli": json.dumps(meta).encode()}), texts)
    refused = fails("reduce", str(texts), "--plot", str(tmp_path / "m.png"), "--thumbnails", "-o", "-", code=2)
    assert "holds text vectors" in refused.splitlines()[0] and "Traceback" not in refused, refused
    refused = fails("reduce", str(texts), "--thumbnails", "-o", str(tmp_path / "r.parquet"), code=2)
    assert "--thumbnails draws pictures on a map" in refused
    assert not (tmp_path / "m.png").exists()


def test_two_folders_holding_the_same_names_give_distinct_ids(
    clip_dir: Path,  # noqa: F811
    shots: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.png").write_bytes((shots / f"s0{folder == 'b':d}.png").read_bytes())
    monkeypatch.chdir(tmp_path)
    invoke("embed", "a", "b/", "--model", str(clip_dir), "-o", "two.parquet", "-q")
    ids, vectors, provenance = read(tmp_path / "two.parquet")
    assert ids == ["a/same.png", "b/same.png"] and provenance.media_root == str(tmp_path)
    assert not np.allclose(vectors[0], vectors[1])
