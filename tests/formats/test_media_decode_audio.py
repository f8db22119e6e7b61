"""Audio sniffing and decoding: formats soundfile writes here, mono mixdown, resampling, length limits, bad files;
and the thread pool that decodes beside the model."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from embedcli.errors import InputError
from embedcli.formats.media import MediaKind, decode_audio, decode_batches, sniff, sniff_file

RATE = 16_000


def _tone(rate: int, seconds: float, channels: int = 1, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t)
    columns = [wave * (1.0 - 0.3 * c) for c in range(channels)]
    return np.stack(columns, axis=1).astype(np.float32)


def _written(fmt: str, subtype: str | None, rate: int, frames: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, frames, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _writable(fmt: str, subtype: str | None) -> bool:
    return fmt in soundfile.available_formats() and (subtype is None or subtype in soundfile.available_subtypes(fmt))


FORMATS = [
    # (soundfile format, subtype, sniffed name, worst sample error after the round trip)
    ("WAV", "PCM_16", "wav", 1e-3),
    ("WAV", "FLOAT", "wav", 1e-6),
    ("FLAC", "PCM_16", "flac", 1e-3),
    ("AIFF", "PCM_16", "aiff", 1e-3),
    ("OGG", "VORBIS", "ogg", 0.1),
    ("OGG", "OPUS", "ogg", 0.1),
    ("MP3", "MPEG_LAYER_III", "mp3", 0.1),
]


@pytest.mark.parametrize(("fmt", "subtype", "name", "tolerance"), FORMATS)
def test_each_format_is_sniffed_mixed_to_mono_and_resampled(
    tmp_path: Path, fmt: str, subtype: str, name: str, tolerance: float
) -> None:
    if not _writable(fmt, subtype):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    # Opus only takes 8/12/16/24/48 kHz; 48 kHz is also a rate to resample from.
    rate = 48_000 if subtype in ("OPUS", "MPEG_LAYER_III") else 22_050
    stereo = _tone(rate, 0.5, channels=2)
    data = _written(fmt, subtype, rate, stereo)
    assert sniff(data[:64]) == (MediaKind.audio, name)
    path = tmp_path / f"clip.{name}"
    path.write_bytes(data)
    assert sniff_file(path) == (MediaKind.audio, name)
    decoded = decode_audio(path, sampling_rate=RATE)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    # The oracle: soundfile's own read, averaged over channels, resampled by soxr.
    raw, raw_rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert raw_rate == rate
    expected = soxr.resample(raw.mean(axis=1), rate, RATE, quality="HQ")
    np.testing.assert_allclose(decoded, expected, atol=1e-6)
    # and close to the tone that was written, where the codec allows (lossy codecs shift and delay it).
    assert abs(len(decoded) - RATE * 0.5) < RATE * 0.1
    if tolerance < 0.01:
        truth = soxr.resample(stereo.mean(axis=1), rate, RATE, quality="HQ")
        np.testing.assert_allclose(decoded, truth, atol=tolerance)


def test_a_clip_at_the_models_rate_is_returned_as_read() -> None:
    mono = _tone(RATE, 0.25)
    decoded = decode_audio(_written("WAV", "FLOAT", RATE, mono), sampling_rate=RATE)
    np.testing.assert_array_equal(decoded, mono[:, 0])


def test_mp3_behind_an_id3_tag_is_sniffed() -> None:
    frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(60)
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    assert sniff(tag + frame) == (MediaKind.audio, "mp3")
    assert sniff(frame) == (MediaKind.audio, "mp3")
    assert sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"fLaC" + bytes(40)) == (MediaKind.audio, "flac")
    assert sniff(bytes([0xFF, 0xFB, 0xF0, 0x64])) is None  # bitrate index 15 is not a frame


def test_too_long_and_too_short_clips_are_refused_by_name() -> None:
    data = _written("WAV", "PCM_16", RATE, _tone(RATE, 2.0))
    with pytest.raises(InputError, match=r"^long\.wav: too long: 2\.0 s exceeds the limit of 1\.5 s$"):
        decode_audio(data, sampling_rate=RATE, name="long.wav", max_seconds=1.5)
    assert len(decode_audio(data, sampling_rate=RATE, max_seconds=2.5)) == 2 * RATE
    with pytest.raises(InputError, match=r"^short\.wav: too short: 32000 samples at 16000 Hz; the model needs 40000"):
        decode_audio(data, sampling_rate=RATE, name="short.wav", min_samples=40_000)
    empty = _written("WAV", "PCM_16", RATE, np.zeros((0, 1), dtype=np.float32))
    with pytest.raises(InputError, match=r"^empty\.wav: too short: 0 samples"):
        decode_audio(empty, sampling_rate=RATE, name="empty.wav")


def test_corrupt_and_unknown_audio_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.flac"
    path.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"noise\.flac: cannot decode audio \(.+\)"):
        decode_audio(path, sampling_rate=RATE)
    with pytest.raises(InputError, match=r"^memo\.txt: cannot decode audio"):
        decode_audio(b"not a sound at all", sampling_rate=RATE, name="memo.txt")
    with pytest.raises(InputError, match="no such file"):
        decode_audio(tmp_path / "absent.wav", sampling_rate=RATE)


def test_truncated_flac_names_the_file_and_a_cut_wav_keeps_what_is_there() -> None:
    tone = _tone(RATE, 1.0)
    flac = _written("FLAC", "PCM_16", RATE, tone)
    with pytest.raises(InputError, match=r"^half\.flac: cannot decode audio \(.*flac decoder"):
        decode_audio(flac[: len(flac) // 2], sampling_rate=RATE, name="half.flac")
    # A WAV header cannot tell a cut file from a short one: libsndfile reads the samples that are there.
    wav = _written("WAV", "FLOAT", RATE, tone)
    decoded = decode_audio(wav[: len(wav) // 2], sampling_rate=RATE, name="half.wav")
    assert RATE // 2 - 100 < len(decoded) < RATE // 2
    np.testing.assert_array_equal(decoded, tone[: len(decoded), 0])


# --- the pool ---------------------------------------------------------------------------------------------------


def test_batches_come_back_in_order_decoded_on_worker_threads() -> None:
    seen_threads: set[str] = set()

    def decode(n: int) -> int:
        seen_threads.add(threading.current_thread().name)
        return n * n

    batches = list(decode_batches(range(23), decode, batch_size=5, workers=3, prepare=sum))
    assert [b.indices for b in batches] == [list(range(s, min(s + 5, 23))) for s in range(0, 23, 5)]
    assert [x for b in batches for x in b.items] == [n * n for n in range(23)]
    assert [b.prepared for b in batches] == [sum(n * n for n in b.indices) for b in batches]
    assert seen_threads and all(name.startswith("embedcli-decode") for name in seen_threads)
    lean = list(decode_batches(range(23), decode, batch_size=5, prepare=sum, keep_items=False))
    assert [b.prepared for b in lean] == [b.prepared for b in batches] and all(b.items == [] for b in lean)


def _fails_on_multiples_of_seven(n: int) -> int:
    if n % 7 == 0 and n > 0:
        raise InputError(f"item{n}: bad")
    return n


def test_an_error_stops_the_run_at_its_place_in_the_order() -> None:
    received: list[int] = []
    with pytest.raises(InputError, match=r"^item7: bad$"):
        for batch in decode_batches(range(30), _fails_on_multiples_of_seven, batch_size=4, workers=2):
            received.extend(batch.indices)
    assert received == [0, 1, 2, 3]  # the batch holding item 7 is not yielded


def test_on_error_skips_and_reports_each_failure_in_order() -> None:
    reported: list[tuple[int, int, str]] = []
    batches = list(
        decode_batches(
            (n for n in range(30)),
            _fails_on_multiples_of_seven,
            batch_size=4,
            on_error=lambda position, source, error: reported.append((position, source, str(error))),
        )
    )
    assert reported == [(n, n, f"item{n}: bad") for n in (7, 14, 21, 28)]
    kept = [i for b in batches for i in b.indices]
    assert kept == [n for n in range(30) if n == 0 or n % 7]
    assert all(b.items == b.indices for b in batches)


def test_real_files_decode_through_the_pool(tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        path = tmp_path / f"c{i}.wav"
        soundfile.write(path, _tone(8_000, 0.1 + 0.05 * i, hz=200.0 + 50 * i), 8_000)
        paths.append(path)
    batches = list(decode_batches(paths, lambda p: decode_audio(p, sampling_rate=RATE), batch_size=4))
    clips = [clip for b in batches for clip in b.items]
    for path, clip in zip(paths, clips, strict=True):
        np.testing.assert_array_equal(clip, decode_audio(path, sampling_rate=RATE))
