"""Image and audio files: what a file is (by its first bytes), and its decoded content.

An image decodes to an RGB `PIL.Image.Image` (EXIF orientation applied, alpha put onto white, palette, 16-bit and
CMYK images converted); a sound decodes to a mono float32 array of shape (samples,) at the sampling rate asked for.
Every failure is an `InputError` whose message starts with the file's name: "photos/x.jpg: truncated image (...)".
`decode_batches` decodes on a small thread pool, so a model is not kept waiting on Pillow or soundfile.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import numpy as np

from embedcli.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

MediaSource = str | os.PathLike[str] | bytes
"""A file path, or a file's whole content (a Parquet cell of bytes)."""

# Pillow's own limit (89.5 megapixels, about 0.25 GiB as RGB): larger images are refused as possible bombs.
DEFAULT_MAX_PIXELS = 89_478_485
SNIFF_BYTES = 64

S = TypeVar("S")
T = TypeVar("T")


class MediaKind(str, Enum):
    image = "image"
    audio = "audio"


class Sniffed(NamedTuple):
    kind: MediaKind
    format: str  # png, jpeg, gif, webp, bmp, tiff; wav, flac, ogg, mp3, aiff


_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}


def sniff(head: bytes) -> Sniffed | None:
    """The kind and format of a file from its first bytes (at least 16; `SNIFF_BYTES` is plenty), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(MediaKind.image, "png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(MediaKind.image, "jpeg")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(MediaKind.image, "gif")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed(MediaKind.image, "tiff")
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return Sniffed(MediaKind.image, "bmp")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WEBP":
        return Sniffed(MediaKind.image, "webp")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Sniffed(MediaKind.audio, "wav")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed(MediaKind.audio, "aiff")
    if head.startswith(b"fLaC"):
        return Sniffed(MediaKind.audio, "flac")
    if head.startswith(b"OggS"):
        return Sniffed(MediaKind.audio, "ogg")
    if head.startswith(b"ID3"):
        # An ID3v2 tag usually precedes MP3 frames; FLAC files sometimes carry one too.
        after = sniff(head[_id3_length(head) :])
        return after if after is not None and after.kind is MediaKind.audio else _MP3
    if _is_mpeg_frame(head):
        return _MP3
    return None


_MP3 = Sniffed(MediaKind.audio, "mp3")


def _id3_length(head: bytes) -> int:
    """The length of an ID3v2 tag, header included (its size is stored as four 7-bit bytes)."""
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if len(head) > 5 and head[5] & 0x10 else 0)


def _is_mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a valid layer, bitrate and sampling-rate index."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    layer = (head[1] >> 1) & 0x3
    version = (head[1] >> 3) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    return layer != 0 and version != 1 and bitrate not in (0, 0xF) and rate != 3


def sniff_file(path: str | os.PathLike[str]) -> Sniffed | None:
    """`sniff` applied to a file on disk, reading past an ID3 tag where there is one. OSError propagates."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        if head.startswith(b"ID3") and len(head) >= 10:
            handle.seek(_id3_length(head))
            after = sniff(handle.read(SNIFF_BYTES))
            return after if after is not None and after.kind is MediaKind.audio else _MP3
    return sniff(head)


def source_name(source: MediaSource, name: str | None = None) -> str:
    """The name errors use for `source`: the one given, the path, or "<bytes>"."""
    if name is not None:
        return name
    return "<bytes>" if isinstance(source, bytes) else os.fspath(source)


def _open_binary(source: MediaSource) -> Any:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


# --- images -----------------------------------------------------------------------------------------------------

_pillow_ready = threading.Lock()
_pillow_configured = False


def _pillow() -> Any:
    """Pillow, imported on first use. Its bomb warning is silenced once: `decode_image` refuses such images itself,
    with a clear error, instead of warning below twice Pillow's limit and raising above it."""
    global _pillow_configured
    from PIL import Image

    with _pillow_ready:
        if not _pillow_configured:
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
            _pillow_configured = True
    return Image


def decode_image(
    source: MediaSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> Image.Image:
    """Decode one image to RGB (8 bits a channel), upright as its EXIF orientation says, alpha put onto white.

    The first frame of an animated GIF/WebP or multi-page TIFF is used. With `min_side`, a large image is shrunk by
    an integer factor while decoding (JPEG's DCT scaling, then box reduction) as long as its shorter side stays at
    least `min_side`: far less memory and time for photos fed to a 224-pixel model, at the price of vectors that
    differ slightly from those of the full-size image. Raises InputError "NAME: reason" for a file that cannot be
    read, is not an image, is truncated or corrupt, or has more than `max_pixels` pixels.
    """
    image_module = _pillow()
    from PIL import ImageOps, UnidentifiedImageError

    label = source_name(source, name)
    try:
        with _open_binary(source) as handle:
            image = image_module.open(handle)
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(
                    f"{label}: image too large: {width}×{height} pixels exceeds the limit of {max_pixels:,} "
                    "(a possible decompression bomb)"
                )
            if min_side is not None and image.format == "JPEG":
                image.draft(image.mode, (min_side, min_side))  # a size at least this large on both sides
            image.load()
            if min_side is not None and (factor := min(image.size) // min_side) > 1:
                image = image.reduce(factor)
            # In place: without an orientation tag Pillow would otherwise return a full copy of every image.
            ImageOps.exif_transpose(image, in_place=True)
            return to_rgb(image)
    except InputError:
        raise
    except image_module.DecompressionBombError as exc:
        # Pillow itself refuses beyond twice its limit, before the size can be read here.
        raise InputError(f"{label}: image too large: {exc} (a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise InputError(f"{label}: not a readable image (unknown format or corrupt header)") from None
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except OSError as exc:
        reason = str(exc) or type(exc).__name__
        what = "truncated image" if "truncated" in reason else "corrupt image"
        raise InputError(f"{label}: {what} ({reason})") from None
    except (SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise InputError(f"{label}: corrupt image ({exc or type(exc).__name__})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy of a loaded image: alpha composited onto white, palette expanded, 16-bit and float scaled to 8-bit
    (Pillow's own conversion would clip them), CMYK/YCbCr/LAB converted."""
    image_module = _pillow()
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = image_module.new("RGBA", rgba.size, (255, 255, 255, 255))
        return image_module.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 1.0 if mode == "F" and pixels.max(initial=0.0) <= 1.0 else (255.0 if mode == "F" else 65535.0)
        if mode == "I" and pixels.max(initial=0.0) <= 255:
            top = 255.0
        gray = np.clip(np.rint(pixels * (255.0 / top)), 0, 255).astype(np.uint8)
        return image_module.fromarray(gray, mode="L").convert("RGB")
    return image.convert("RGB")


def thumbnail(source: MediaSource, *, size: int = 64, name: str | None = None) -> np.ndarray:
    """A small copy of an image for plotting: uint8 RGB of shape (h, w, 3), its longer side `size` pixels (never
    enlarged), aspect kept. A large JPEG is shrunk while decoding (`min_side`), so a photo costs a fraction of a full
    decode. Raises InputError as `decode_image` does."""
    image = decode_image(source, name=name, min_side=size)
    image.thumbnail((size, size))
    return np.asarray(image, dtype=np.uint8)


# --- audio ------------------------------------------------------------------------------------------------------


def decode_audio(
    source: MediaSource,
    *,
    sampling_rate: int,
    name: str | None = None,
    max_seconds: float | None = None,
    min_samples: int = 1,
) -> np.ndarray:
    """Decode one sound to a mono float32 array of shape (samples,) at `sampling_rate` (channels averaged).

    Raises InputError "NAME: reason" for a file that cannot be read or decoded, one longer than `max_seconds`, or
    one with fewer than `min_samples` samples after resampling (a model's shortest input).
    """
    import soundfile

    label = source_name(source, name)
    try:
        with _open_binary(source) as handle, soundfile.SoundFile(handle) as sound:
            rate = int(sound.samplerate)
            if max_seconds is not None and sound.frames > 0 and sound.frames / rate > max_seconds:
                raise InputError(
                    f"{label}: too long: {sound.frames / rate:.1f} s exceeds the limit of {max_seconds:g} s",
                    hint="raise --max-seconds, or cut the clip",
                )
            frames = sound.read(dtype="float32", always_2d=True)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, EOFError) as exc:
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        raise InputError(f"{label}: cannot decode audio ({reason})") from None
    if max_seconds is not None and len(frames) / rate > max_seconds:
        # Some formats (MP3) only estimate their length in the header.
        raise InputError(f"{label}: too long: {len(frames) / rate:.1f} s exceeds the limit of {max_seconds:g} s")
    mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    if rate != sampling_rate and len(mono):
        import soxr

        mono = soxr.resample(mono, rate, sampling_rate, quality="HQ")
    if len(mono) < max(min_samples, 1):
        raise InputError(
            f"{label}: too short: {len(mono)} samples at {sampling_rate} Hz; the model needs {min_samples}"
        )
    return np.ascontiguousarray(mono, dtype=np.float32)


# --- decoding beside the model ----------------------------------------------------------------------------------


@dataclass
class DecodedBatch(Generic[T]):
    """One batch of decoded inputs. `indices` are positions in the input order (skipped ones are absent),
    `items` the decoded values, `prepared` what `prepare(items)` returned (None without `prepare` or items)."""

    indices: list[int]
    items: list[T]
    prepared: Any = None
    errors: list[tuple[int, InputError]] = field(default_factory=list)


def decode_batches(
    sources: Iterable[S],
    decode: Callable[[S], T],
    *,
    batch_size: int,
    workers: int = 2,
    prefetch: int = 2,
    prepare: Callable[[list[T]], Any] | None = None,
    keep_items: bool = True,
    on_error: Callable[[int, S, InputError], None] | None = None,
) -> Iterator[DecodedBatch[T]]:
    """Decode `sources` on `workers` threads, `prefetch` batches a thread ahead, yielding batches in input order.

    Each batch of up to `batch_size` sources is decoded (and, with `prepare`, turned into model input) on a worker
    thread while the caller runs the model on the previous one; Pillow, soundfile and soxr release the GIL while
    they work. An InputError stops the run at the failing source's place in the order (raised from this iterator),
    unless `on_error` is given: then it is told (position, source, error), in order, and the source is left out.
    `sources` is read lazily, at most `workers * prefetch` batches ahead. With `prepare` and `keep_items=False`,
    each batch's `items` is emptied once prepared, so full-size decoded images are not held while waiting.
    """
    if batch_size < 1 or workers < 1 or prefetch < 1:
        raise ValueError("batch_size, workers and prefetch must be at least 1")
    fail_fast = on_error is None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embedcli-decode")
    pending: deque[tuple[int, list[S], Future[DecodedBatch[T]]]] = deque()
    try:
        for start, chunk in _chunks(sources, batch_size):
            pending.append(
                (start, chunk, pool.submit(_decode_chunk, start, chunk, decode, prepare, fail_fast, keep_items))
            )
            if len(pending) >= workers * prefetch:
                yield _settle(*pending.popleft(), on_error)
        while pending:
            yield _settle(*pending.popleft(), on_error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _chunks(sources: Iterable[S], size: int) -> Iterator[tuple[int, list[S]]]:
    iterator = iter(sources)
    start = 0
    while chunk := list(islice(iterator, size)):
        yield start, chunk
        start += len(chunk)


def _decode_chunk(
    start: int,
    chunk: list[S],
    decode: Callable[[S], T],
    prepare: Callable[[list[T]], Any] | None,
    fail_fast: bool,
    keep_items: bool,
) -> DecodedBatch[T]:
    batch: DecodedBatch[T] = DecodedBatch([], [])
    for offset, source in enumerate(chunk):
        try:
            batch.items.append(decode(source))
            batch.indices.append(start + offset)
        except InputError as exc:
            batch.errors.append((start + offset, exc))
            if fail_fast:
                return batch
    if prepare is not None and batch.items:
        batch.prepared = prepare(batch.items)
        if not keep_items:
            batch.items = []
    return batch


def _settle(
    start: int,
    chunk: list[S],
    future: Future[DecodedBatch[T]],
    on_error: Callable[[int, S, InputError], None] | None,
) -> DecodedBatch[T]:
    batch = future.result()
    for position, error in batch.errors:
        if on_error is None:
            raise error
        on_error(position, chunk[position - start], error)
    return batch
