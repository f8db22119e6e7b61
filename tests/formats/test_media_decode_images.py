"""Image sniffing and decoding: orientation, alpha, palette, 16-bit, CMYK, and the errors for bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedcli.errors import InputError
from embedcli.formats.media import MediaKind, decode_image, sniff, sniff_file, to_rgb


def _pixels(seed: int = 0, size: tuple[int, int] = (24, 16)) -> np.ndarray:
    """A random RGB picture, `size` = (width, height), as a (height, width, 3) uint8 array."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "mode"),
    [
        ("PNG", "png", "RGB"),
        ("JPEG", "jpeg", "RGB"),
        ("GIF", "gif", "P"),
        ("WEBP", "webp", "RGB"),
        ("BMP", "bmp", "RGB"),
        ("TIFF", "tiff", "RGB"),
    ],
)
def test_sniff_names_each_image_format_and_decode_reads_it(tmp_path: Path, fmt: str, name: str, mode: str) -> None:
    image = Image.fromarray(_pixels()).convert(mode)
    data = _encoded(image, fmt)
    assert sniff(data[:64]) == (MediaKind.image, name)
    path = tmp_path / f"picture.{name}"
    path.write_bytes(data)
    assert sniff_file(path) == (MediaKind.image, name)
    decoded = decode_image(path)
    assert decoded.mode == "RGB"
    assert decoded.size == (24, 16)
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless
        np.testing.assert_array_equal(np.asarray(decoded), _pixels())


def test_sniff_knows_no_text_and_no_empty_file() -> None:
    assert sniff(b"hello world, this is text\n") is None
    assert sniff(b"") is None
    assert sniff(b"BM is also how a sentence may begin") is None


def test_exif_rotated_image_equals_the_pre_rotated_one(tmp_path: Path) -> None:
    upright = Image.fromarray(_pixels(1, (20, 12)))
    # Orientation 6: the stored pixels must be turned 90° clockwise to be shown upright, so store them turned back.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated_path = tmp_path / "rotated.png"
    stored.save(rotated_path, exif=exif.tobytes())
    decoded = decode_image(rotated_path)
    assert decoded.size == (20, 12)
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(upright))


def test_rgba_is_composited_onto_white() -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red channel
    rgba[:2, :, 3] = 255  # top half opaque
    rgba[2:, :, 3] = 0  # bottom half transparent
    rgba[2:, :2, 3] = 128  # half-transparent corner
    decoded = np.asarray(decode_image(_encoded(Image.fromarray(rgba, "RGBA"), "PNG")))
    np.testing.assert_array_equal(decoded[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(decoded[3, 3], [255, 255, 255])
    # alpha 128/255 over white: 200*a + 255*(1-a), 0*a + 255*(1-a)
    np.testing.assert_allclose(decoded[3, 0], [227.4, 127, 127], atol=1.5)


def test_palette_with_transparency_and_grey_alpha_decode_onto_white() -> None:
    palette = Image.new("P", (3, 2), 0)
    palette.putpalette([10, 20, 30, 40, 50, 60] + [0] * (256 * 3 - 6))
    palette.putpixel((1, 0), 1)
    data = _encoded(palette, "PNG", transparency=0)
    decoded = np.asarray(decode_image(data))
    np.testing.assert_array_equal(decoded[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(decoded[0, 1], [40, 50, 60])
    grey_alpha = Image.fromarray(np.dstack([np.full((2, 2), 90, np.uint8), np.full((2, 2), 255, np.uint8)]), "LA")
    np.testing.assert_array_equal(np.asarray(decode_image(_encoded(grey_alpha, "PNG")))[0, 0], [90, 90, 90])


def test_16_bit_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 100], [65535, 30000]], dtype=np.uint16)
    data = _encoded(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = np.asarray(decode_image(data))[..., 0]
    np.testing.assert_array_equal(decoded, np.rint(values / 257.0).astype(np.uint8))


def test_cmyk_jpeg_decodes_to_rgb() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(_encoded(cmyk, "JPEG", quality=95))
    assert decoded.mode == "RGB"
    red = np.asarray(decoded)[4, 4].astype(int)
    assert red[0] > 230 and red[1] < 30 and red[2] < 30


def test_float_and_grey_modes_become_rgb() -> None:
    grey = Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32), "F")
    np.testing.assert_array_equal(np.asarray(to_rgb(grey))[0, 0], [128, 128, 128])
    one_bit = Image.new("1", (2, 2), 1)
    np.testing.assert_array_equal(np.asarray(to_rgb(one_bit))[0, 0], [255, 255, 255])


def test_truncated_image_names_the_file_and_the_reason(tmp_path: Path) -> None:
    data = _encoded(Image.fromarray(_pixels(2, (64, 64))), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jpg: truncated image"):
        decode_image(path)


def test_corrupt_and_non_image_files_name_the_file(tmp_path: Path) -> None:
    data = bytearray(_encoded(Image.fromarray(_pixels(3)), "PNG"))
    start = data.find(b"IDAT") + 10
    data[start : start + 50] = bytes(50)  # zeros in the middle of the compressed pixels
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"^broken\.png: corrupt image \(broken data stream.*\)$"):
        decode_image(path, name="broken.png")
    with pytest.raises(InputError, match=r"notes\.txt: not a readable image"):
        decode_image(b"just some text", name="notes.txt")
    with pytest.raises(InputError, match="no such file"):
        decode_image(tmp_path / "absent.png")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` 1-bit pixels and holds none: what a bomb looks like before inflating."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(InputError, match=r"^bomb\.png: image too large: .*decompression bomb"):
        decode_image(_png_header_only(20_000, 20_000), name="bomb.png")  # beyond Pillow's own refusal
    with pytest.raises(
        InputError, match=r"^mid\.png: image too large: 10000×10000 pixels exceeds the limit of 50,000,000"
    ):
        decode_image(_png_header_only(10_000, 10_000), name="mid.png", max_pixels=50_000_000)
    with pytest.raises(InputError, match="image too large"):
        decode_image(_encoded(Image.new("RGB", (100, 100)), "PNG"), name="small.png", max_pixels=9_999)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_min_side_shrinks_large_images_while_decoding(fmt: str) -> None:
    data = _encoded(Image.fromarray(_pixels(4, (800, 600))), fmt)
    assert decode_image(data).size == (800, 600)
    small = decode_image(data, min_side=140)
    assert min(small.size) >= 140 and min(small.size) < 280  # shrunk by the largest factor that keeps 140
    assert small.size[0] * 3 == small.size[1] * 4  # aspect kept
    assert decode_image(data, min_side=600).size == (800, 600)
