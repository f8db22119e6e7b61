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


def notes_folder(root):
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("plain words\nsecond line\n")
    (root / "b.md").write_text("# Title here\n\nSome *emphasis* and a [link](http://x.org).\n\n- one\n- two\n")
    (root / "sub" / "c.html").write_text(
        "<html><head><title>T</title><style>p{}</style></head><body><h1>Head</h1>"
        "<p>Hello &amp; <b>bye</b></p><script>var x=1;</script></body></html>"
    )
    (root / "sub" / "d.rst").write_bytes(gzip.compress(b"Section\n=======\n\nrst body\n"))
    (root / "sub" / "d.rst").rename(root / "sub" / "d.rst.gz")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # not a document: left out
    (root / "fake.txt").write_bytes(b"abc\x00\x01\x02")  # binary with a document suffix: left out
    (root / ".git" / "x.txt").write_text("hidden")
    return root


def test_a_folder_gives_one_record_per_document_with_its_visible_text(tmp_path):
    folder = notes_folder(tmp_path / "notes")
    records, reader = read([folder])
    assert dict(records) == {
        "a.txt": "plain words\nsecond line\n",
        "b.md": "Title here\nSome emphasis and a link.\none\ntwo",
        "sub/c.html": "Head\nHello & bye",
        "sub/d.rst.gz": "Section\n=======\n\nrst body\n",
    }
    assert [r[0] for r in records] == sorted(r[0] for r in records)
    assert reader.skipped_files == 2  # image.png (not a document) and fake.txt (binary)


def test_a_glob_picks_the_files_of_a_folder(tmp_path):
    folder = notes_folder(tmp_path / "notes")
    records, reader = read([folder], glob="**/*.html")
    assert [r[0] for r in records] == ["sub/c.html"]
    records, reader = read([folder], glob="*.txt")
    assert [r[0] for r in records] == ["a.txt"] and reader.skipped_files == 1  # fake.txt is binary


def test_a_glob_without_a_folder_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="--glob picks files in folders"):
        read([tmp_path / "a.txt"], glob="*.md")


def test_markdown_and_html_text_against_the_parsers_themselves():
    from markdown_it import MarkdownIt

    from embedcli.formats.documents import html_text, markdown_text

    source = "Intro `code` text\n\n> quoted\n\n1. first\n2. second\n"
    assert markdown_text(source) == html_text(MarkdownIt("commonmark").render(source))
    assert markdown_text(source).splitlines() == ["Intro code text", "quoted", "first", "second"]
    assert html_text("<p>a<br>b</p><noscript>no</noscript><template>t</template>") == "a\nb"
