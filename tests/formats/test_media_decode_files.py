"""Finding image and audio files by content: folders, named files, kinds, skipped files, ids; and thumbnails."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from embedcli.errors import InputError, UsageError
from embedcli.formats.media import MediaKind, thumbnail
from embedcli.formats.media_files import find_media, read_file_list


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "b" / "photo.dat", format="JPEG")  # suffix lies
    Image.new("RGB", (4, 4)).save(tmp_path / ".hidden" / "secret.png")
    soundfile.write(tmp_path / "a" / "voice.flac", np.zeros(100, dtype=np.float32), 8000)
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / "fake.jpg").write_text("not really a jpeg")
    return tmp_path


def test_a_folder_is_walked_in_order_by_content_with_relative_ids(tree: Path) -> None:
    listing = find_media([tree])
    assert [(f.id, f.sniffed.format) for f in listing.files] == [
        ("a/b/photo.dat", "jpeg"),
        ("a/voice.flac", "flac"),
        ("a/x.png", "png"),
    ]
    assert sorted(p.name for p in listing.skipped) == ["fake.jpg", "notes.txt"]
    assert listing.kinds == {MediaKind.image, MediaKind.audio}


def test_a_kind_keeps_only_that_kind(tree: Path) -> None:
    listing = find_media([tree / "a"], kind=MediaKind.audio)
    assert [f.id for f in listing.files] == ["voice.flac"]
    assert len(listing.skipped) == 4


def test_named_files_keep_their_names_and_are_listed_once(tree: Path) -> None:
    png = tree / "a" / "x.png"
    listing = find_media([png, tree / "a", str(png)])
    # x.png once, under the name it was given first, then photo.dat and voice.flac from the folder, named through it
    assert [f.id for f in listing.files] == [str(png), f"{tree}/a/b/photo.dat", f"{tree}/a/voice.flac"]
    assert listing.root == os.path.abspath(os.curdir)


def test_one_folder_gives_ids_relative_to_it_and_records_it_as_the_root(tree: Path) -> None:
    listing = find_media([tree / "a"])
    assert listing.root == str(tree / "a")
    assert all((Path(listing.root) / f.id).samefile(f.path) for f in listing.files)


def test_two_folders_with_the_same_relative_path_give_two_ids_prefixed_by_the_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "c").mkdir()
    Image.new("RGB", (4, 4)).save(tree / "c" / "x.png")
    monkeypatch.chdir(tree)
    listing = find_media(["a", "c/"], kind=MediaKind.image)
    assert [f.id for f in listing.files] == ["a/b/photo.dat", "a/x.png", "c/x.png"]
    assert listing.root == str(tree)
    assert all((Path(listing.root) / f.id).samefile(f.path) for f in listing.files)


def test_named_non_media_missing_and_wrong_kind_are_refused(tree: Path) -> None:
    with pytest.raises(InputError, match=r"notes\.txt: not an image or audio file"):
        find_media([tree / "a" / "notes.txt"])
    with pytest.raises(InputError, match=r"voice\.flac: a flac audio file, not image"):
        find_media([tree / "a" / "voice.flac"], kind=MediaKind.image)
    with pytest.raises(UsageError, match="no such file or folder"):
        find_media([tree / "absent"])


def test_read_file_list_drops_blank_lines() -> None:
    assert list(read_file_list(io.StringIO("a.png\n\n  b c.jpg  \n"))) == ["a.png", "b c.jpg"]


def test_thumbnail_keeps_the_aspect_and_fits_the_box() -> None:
    picture = np.zeros((40, 100, 3), dtype=np.uint8)
    picture[:, :50] = 255
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    small = thumbnail(buffer.getvalue(), size=20)
    assert small.shape == (8, 20, 3) and small.dtype == np.uint8
    assert small[:, :9].min() > 200 and small[:, 11:].max() < 50
