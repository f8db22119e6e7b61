"""Text readers: every input format, gzip, stdin, ids, blank lines, encodings, and property-based round trips."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys

import pytest
from conftest import SHARED_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.errors import InputError, UsageError
from embedcli.formats import InputFormat
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader


def read(paths, **kwargs):
    reader = RecordReader([str(p) for p in paths], **kwargs)
    return [tuple(r) for r in reader], reader


def test_txt_ids_are_line_numbers_and_blank_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\r\n\r\n   \nsecond\r\nthird")
    records, reader = read([path])
    assert records == [("1", "first"), ("4", "second"), ("5", "third")]
    assert reader.skipped_blank == 2


def test_several_inputs_prefix_ids_with_the_file_name(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x\ny\n")
    b.write_text("z\n")
    records, _ = read([a, b])
    assert records == [(f"{a}:1", "x"), (f"{a}:2", "y"), (f"{b}:1", "z")]


def test_jsonl_fields_and_gzip(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    rows = [{"doc_id": "d7", "body": "hello"}, {"doc_id": 8, "body": "world"}, {"doc_id": 9, "body": None}]
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    records, reader = read([path], fields=FieldSpec(text_field="body", id_field="doc_id"))
    assert records == [("d7", "hello"), ("8", "world")]
    assert reader.skipped_blank == 1


def test_jsonl_missing_field_names_file_line_and_the_fields_present(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok"}\n{"body": "no text here"}\n')
    with pytest.raises(InputError) as err:
        read([path])
    assert f"{path}:2" in err.value.message and "body" in err.value.hint


def test_csv_and_tsv_columns(tmp_path):
    csv_path = tmp_path / "table.csv"
    csv_path.write_text('id,text\na1,"hello, world"\na2,"multi\nline"\n', encoding="utf-8-sig")
    records, _ = read([csv_path], fields=FieldSpec(id_column="id"))
    assert records == [("a1", "hello, world"), ("a2", "multi\nline")]
    tsv_path = tmp_path / "table.tsv"
    tsv_path.write_text("sentence\tscore\nfoo bar\t1\n")
    records, _ = read([tsv_path], fields=FieldSpec(text_column="sentence"))
    assert records == [("1", "foo bar")]
    with pytest.raises(InputError, match="no column 'text'"):
        read([tsv_path])


def test_parquet_input(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a", "", "c"], "key": [10, 11, 12]}), path)
    records, reader = read([path], fields=FieldSpec(id_column="key"))
    assert records == [("10", "a"), ("12", "c")]
    assert reader.skipped_blank == 1


def test_input_format_override(tmp_path):
    path = tmp_path / "data.log"
    path.write_text('{"text": "x"}\n')
    assert read([path])[0] == [("1", '{"text": "x"}')]
    assert read([path], input_format=InputFormat.jsonl)[0] == [("1", "x")]


def test_invalid_bytes_name_file_and_line_or_are_replaced():
    latin1 = sorted((SHARED_DATA / "gutenberg-en" / "latin1").glob("*.txt"))[0]
    with pytest.raises(InputError) as err:
        read([latin1])
    assert str(latin1) in err.value.message and ":" in err.value.message
    assert "--encoding" in err.value.hint
    records, _ = read([latin1], decoding=Decoding("latin-1"))
    replaced, _ = read([latin1], decoding=Decoding("utf-8", "replace"))
    assert len(records) == len(replaced) > 100
    assert any("\ufffd" in text for _, text in replaced)


def test_utf16_input(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_text("één\ntwee\n", encoding="utf-16")
    assert read([path], decoding=Decoding("utf-16"))[0] == [("1", "één"), ("2", "twee")]


def test_real_gutenberg_book_with_bom_and_crlf():
    book = SHARED_DATA / "gutenberg-en" / "1342-0.txt"
    records, reader = read([book])
    assert records[0][1][0] != "\ufeff"
    assert not any(text.endswith("\r") for _, text in records)
    raw_lines = book.read_bytes().split(b"\n")
    assert len(records) + reader.skipped_blank in (len(raw_lines), len(raw_lines) - 1)


def test_missing_file_and_unknown_encoding_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read([tmp_path / "nope.txt"])
    with pytest.raises(UsageError, match="unknown encoding"):
        Decoding("klingon")


def test_stdin_is_read_with_gzip_detected_by_magic(monkeypatch):
    data = gzip.compress(b"one\ntwo\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    assert read(["-"])[0] == [("1", "one"), ("2", "two")]


line_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(line_text, max_size=20))
def test_txt_round_trip(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("rt") / "in.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    records, reader = read([path])
    expected = [(str(i), t) for i, t in enumerate(lines, 1) if t.strip()]
    assert records == expected
    assert reader.skipped_blank == len(lines) - len(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=30)), max_size=15))
def test_csv_and_jsonl_round_trip(tmp_path_factory, rows):
    rows = [(i.replace("\x00", ""), t.replace("\x00", "")) for i, t in rows]
    folder = tmp_path_factory.mktemp("rt")
    with open(folder / "in.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "text"])
        writer.writerows(rows)
    (folder / "in.jsonl").write_text("".join(json.dumps({"key": i, "text": t}) + "\n" for i, t in rows))
    expected = [(i, t) for i, t in rows if t.strip()]
    fields = FieldSpec(id_field="key", id_column="key")
    assert read([folder / "in.jsonl"], fields=fields)[0] == expected
    csv_expected = [(i, t.replace("\r\n", "\n").replace("\r", "\n")) for i, t in expected]
    got = [(i, t.replace("\r\n", "\n").replace("\r", "\n")) for i, t in read([folder / "in.csv"], fields=fields)[0]]
    assert got == csv_expected
