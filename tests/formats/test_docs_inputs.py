"""Inputs people really have: every compression by magic bytes, JSON arrays, nested fields, JSON lines on stdin,
folders of documents."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys

import pytest
import zstandard

from embedcli.errors import InputError
from embedcli.formats.sources import ByteSource, Decoding, decoded_lines
from embedcli.formats.text_inputs import RecordReader

TEXT = "".join(f"line {i} é\n" for i in range(5000)).encode()
COMPRESSORS = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def read(paths, **kwargs):
    reader = RecordReader([str(p) for p in paths], **kwargs)
    return [tuple(r) for r in reader], reader


@pytest.mark.parametrize("name", COMPRESSORS)
def test_each_compression_is_read_by_content_whatever_the_suffix(tmp_path, name):
    path = tmp_path / "corpus.txt"  # no telling suffix: the bytes decide
    path.write_bytes(COMPRESSORS[name](TEXT))
    records, _ = read([path])
    assert [t for _, t in records] == TEXT.decode().splitlines()
    with ByteSource(str(path)) as source:
        assert source.compression == name


def test_zstd_of_several_frames_is_read_whole(tmp_path):
    path = tmp_path / "c.zst"
    half = len(TEXT) // 2
    cut = TEXT.rindex(b"\n", 0, half) + 1
    path.write_bytes(COMPRESSORS["zstd"](TEXT[:cut]) + COMPRESSORS["zstd"](TEXT[cut:]))
    assert [t for _, t in read([path])[0]] == TEXT.decode().splitlines()


@pytest.mark.parametrize("name", COMPRESSORS)
def test_truncated_compressed_data_is_an_input_error_naming_the_compression(tmp_path, name):
    data = COMPRESSORS[name](TEXT + "".join(f"{i}\n" for i in range(20000)).encode())
    path = tmp_path / "cut.txt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=f"truncated {name}") as info:
        read([path])
    assert "latin-1" not in str(info.value.hint or "")


def test_zip_archive_is_named_not_sent_to_another_encoding(tmp_path):
    import zipfile

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.txt", "hello")
    with pytest.raises(InputError, match="zip archive") as info:
        read([path])
    assert "latin-1" not in str(info.value.hint)


@pytest.mark.parametrize("name", ["bz2", "xz", "zstd"])
def test_stdin_is_decompressed_by_magic(monkeypatch, name):
    data = COMPRESSORS[name](b"one\ntwo\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    assert read(["-"])[0] == [("1", "one"), ("2", "two")]


def test_decoded_lines_over_zstd_match_the_plain_text(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(COMPRESSORS["zstd"](TEXT))
    with ByteSource(str(path)) as source:
        lines = [line for _, line in decoded_lines(source, Decoding())]
    assert lines == TEXT.decode().splitlines()


def test_jsonl_zst_is_read_as_jsonl(tmp_path):
    path = tmp_path / "rows.jsonl.zst"
    path.write_bytes(COMPRESSORS["zstd"](b'{"text": "a", "id": "x"}\n{"text": "b", "id": "y"}\n'))
    from embedcli.formats.text_inputs import FieldSpec

    assert read([path], fields=FieldSpec(id_field="id"))[0] == [("x", "a"), ("y", "b")]
