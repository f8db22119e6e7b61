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

from embedcli.errors import InputError, UsageError
from embedcli.formats.sources import ByteSource, Decoding, decoded_lines
from embedcli.formats.text_inputs import FieldSpec, RecordReader

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

    assert read([path], fields=FieldSpec(id_field="id"))[0] == [("x", "a"), ("y", "b")]


def stdin_bytes(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))


ROWS = [
    {"meta": {"id": "a7", "body": "first text"}, "text": "top"},
    {"meta": {"id": "b8", "body": "second text"}, "text": "top2"},
]
NESTED = FieldSpec(text_field="meta.body", id_field="meta.id")


def test_a_json_array_file_is_read_as_records_with_nested_fields(tmp_path):
    import json

    path = tmp_path / "export.json"
    path.write_text("\ufeff" + json.dumps(ROWS, indent=2))  # pretty-printed, with a byte-order mark
    assert read([path], fields=NESTED)[0] == [("a7", "first text"), ("b8", "second text")]
    assert read([path])[0] == [("1", "top"), ("2", "top2")]


def test_the_same_rows_as_json_lines_read_alike(tmp_path):
    import json

    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert read([path], fields=NESTED)[0] == [("a7", "first text"), ("b8", "second text")]


def test_a_key_holding_a_dot_wins_over_the_nested_path(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"meta.body": "flat", "meta": {"body": "nested"}}\n')
    assert read([path], fields=FieldSpec(text_field="meta.body"))[0] == [("1", "flat")]


def test_a_missing_nested_field_names_the_item_and_the_fields(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"meta": {"body": "x"}}, {"meta": {}}]')
    with pytest.raises(InputError, match=r"item 2: no field 'meta\.body'") as info:
        read([path], fields=FieldSpec(text_field="meta.body"))
    assert "meta" in str(info.value.hint)


def test_a_json_array_of_non_objects_or_broken_json_is_refused(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('["just", "strings"]')
    with pytest.raises(InputError, match="item 1: expected a JSON object"):
        read([path])
    path.write_text('[{"text": "a"},\n {"text": ]')
    with pytest.raises(InputError, match=r"a\.json:2: not valid JSON"):
        read([path])


def test_json_lines_on_stdin_are_recognised_when_fields_are_asked_for(monkeypatch):
    stdin_bytes(monkeypatch, b'\n{"id": "x", "body": "hello"}\n{"id": "y", "body": "world"}\n')
    fields = FieldSpec(text_field="body", id_field="id")
    assert read(["-"], fields=fields)[0] == [("x", "hello"), ("y", "world")]


def test_compressed_json_lines_on_stdin_are_recognised(monkeypatch):
    stdin_bytes(monkeypatch, COMPRESSORS["zstd"](b'{"id": "x", "text": "hello"}\n'))
    assert read(["-"], fields=FieldSpec(id_field="id"))[0] == [("x", "hello")]


def test_plain_text_on_stdin_with_json_fields_is_refused_with_a_hint(monkeypatch):
    stdin_bytes(monkeypatch, b"just a line\n")
    with pytest.raises(UsageError, match="--id-field applies to JSON input") as info:
        read(["-"], fields=FieldSpec(id_field="id"))
    assert "--input-format" in str(info.value.hint)


def test_stdin_without_json_fields_stays_one_text_per_line(monkeypatch):
    stdin_bytes(monkeypatch, b'{"text": "a"}\n')
    assert read(["-"])[0] == [("1", '{"text": "a"}')]
