"""Kept input columns, document titles and `--encoding auto`, read by the one record reader."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA

from embedcli.errors import InputError, UsageError
from embedcli.formats.documents import front_matter_title, load_document
from embedcli.formats.sources import ByteSource, Decoding, detect_encoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader

ROWS = [
    {"id": "a", "body": "refund my order", "genre": "faq", "meta": {"url": "u/a"}, "year": 2020},
    {"id": "b", "body": "jazz records", "genre": "music", "meta": {"url": "u/b"}, "year": 2021},
    {"id": "c", "body": "shipping times", "genre": "faq", "meta": {}, "year": 2022},
]


def kept(paths: list[Path], **fields: object) -> list[tuple[str, str, dict | None]]:
    reader = RecordReader([str(p) for p in paths], fields=FieldSpec(**fields))  # type: ignore[arg-type]
    return [(r.id, r.text, r.columns) for r in reader]


def test_jsonl_and_json_array_keep_fields_nested_paths_and_missing_ones_as_null(tmp_path):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "rows.json").write_text(json.dumps(ROWS))
    spec = {"text_field": "body", "id_field": "id", "keep_columns": ("genre", "meta.url", "year")}
    expected = [
        (r["id"], r["body"], {"genre": r["genre"], "meta.url": r["meta"].get("url"), "year": r["year"]}) for r in ROWS
    ]
    assert kept([tmp_path / "rows.jsonl"], **spec) == expected
    assert kept([tmp_path / "rows.json"], **spec) == expected


def test_csv_by_name_tsv_without_header_by_number_and_parquet_by_name(tmp_path):
    (tmp_path / "t.csv").write_text("body,genre,url\nrefund my order,faq,u/a\njazz records,music,u/b\n")
    assert kept([tmp_path / "t.csv"], text_column="body", keep_columns=("genre", "url")) == [
        ("1", "refund my order", {"genre": "faq", "url": "u/a"}),
        ("2", "jazz records", {"genre": "music", "url": "u/b"}),
    ]
    (tmp_path / "t.tsv").write_text("x\trefund\tfaq\ny\tjazz\tmusic\n")
    rows = kept([tmp_path / "t.tsv"], text_column="2", id_column="1", header=False, keep_columns=("3",))
    assert rows == [("x", "refund", {"3": "faq"}), ("y", "jazz", {"3": "music"})]
    table = pa.table(
        {"title": [r["body"] for r in ROWS], "genre": [r["genre"] for r in ROWS], "year": [2020, 2021, 2022]}
    )
    pq.write_table(table, tmp_path / "items.parquet")
    rows = kept([tmp_path / "items.parquet"], text_column="title", keep_columns=("genre", "year"))
    assert rows == [(str(i + 1), r["body"], {"genre": r["genre"], "year": r["year"]}) for i, r in enumerate(ROWS)]


def test_refusals_name_the_problem(tmp_path):
    (tmp_path / "t.txt").write_text("one\ntwo\n")
    with pytest.raises(UsageError, match="plain text"):
        kept([tmp_path / "t.txt"], keep_columns=("genre",))
    with pytest.raises(UsageError, match="'embedding' is a column embedcli writes"):
        FieldSpec(keep_columns=("embedding",))
    (tmp_path / "t.csv").write_text("text,genre\na,b\n")
    with pytest.raises(InputError, match="no column 'colour'") as error:
        kept([tmp_path / "t.csv"], keep_columns=("colour",))
    assert "text, genre" in (error.value.hint or "")


def test_documents_keep_their_title(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("---\ntitle: 'Front matter wins'\ntags: x\n---\n# Heading\n\nBody text.\n")
    (notes / "b.md").write_text("Intro\n\n# First *level-1* heading\n\n## not this\n")
    (notes / "c.html").write_text("<html><head><title> The  page </title></head><body><h1>H</h1><p>x</p></body></html>")
    (notes / "d.html").write_text("<p>before</p><h1>Only a heading</h1>")
    (notes / "e.txt").write_text("plain text, no title")
    reader = RecordReader([str(notes)])
    assert reader.column_names == ["title"]
    got = {r.id: (r.text, r.columns) for r in reader}
    assert got["a.md"] == ("Heading\nBody text.", {"title": "Front matter wins"})
    assert got["b.md"][1] == {"title": "First level-1 heading"}
    assert got["c.html"] == ("H\nx", {"title": "The page"})
    assert got["d.html"][1] == {"title": "Only a heading"}
    assert got["e.txt"] == ("plain text, no title", {"title": None})
    only_text = tmp_path / "only_text"
    only_text.mkdir()
    (only_text / "x.txt").write_text("x")
    assert RecordReader([str(only_text)]).column_names == []


def test_front_matter_without_a_closing_line_is_text():
    assert front_matter_title("---\ntitle: x\nno end") == (None, "---\ntitle: x\nno end")


def test_detect_encoding_trusts_boms_and_valid_utf8_then_asks_charset_normalizer():
    from charset_normalizer import from_bytes

    assert detect_encoding(codecs.BOM_UTF16_LE + "hé".encode("utf-16-le"), "x") == "utf-16"
    assert detect_encoding("naïve café".encode(), "x") == "utf-8"
    assert detect_encoding("cut é".encode()[:-1], "x") == "utf-8"  # a character cut by the sample's end
    latin = ("The café on the boulevard served crème brûlée and a naïve rosé. " * 20).encode("latin-1")
    best = from_bytes(latin).best()
    assert best is not None
    assert detect_encoding(latin, "x") == codecs.lookup(best.encoding).name


def test_encoding_auto_reads_every_speech_as_charset_normalizer_says(tmp_path):
    folder = SHARED_DATA / "us-speeches" / "inaugural"
    if not folder.is_dir():
        pytest.skip("shared data not present")
    with pytest.raises(InputError, match="not valid utf-8"):
        list(RecordReader([str(folder)]))
    reader = RecordReader([str(folder)], decoding=Decoding("auto"))
    texts = {r.id: r.text for r in reader}
    assert len(texts) == 59
    for name, encoding in reader.encodings.items():
        data = (folder / name).read_bytes()  # named as the ids: relative to the one folder read
        assert texts[name] == data.decode(encoding)
        assert encoding == detect_encoding(data, name)
    told = reader.encodings
    assert told["2013-Obama.txt"] == "utf-8"  # UTF-8 with non-ASCII characters
    assert told["1789-Washington.txt"] == "utf-8"  # ASCII
    assert told["2005-Bush.txt"] != "utf-8"  # not valid UTF-8: charset-normalizer's guess


def test_encoding_auto_per_line_file_is_recorded(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(("Crème brûlée for the naïve café owner.\n" * 30).encode("cp1252"))
    reader = RecordReader([str(path)], decoding=Decoding("auto"))
    lines = [r.text for r in reader]
    encoding = reader.encodings[str(path)]
    assert lines == path.read_bytes().decode(encoding).splitlines()
    with ByteSource(str(path)) as source:
        assert Decoding("auto").for_source(source).encoding == encoding


def test_load_document_under_auto_names_the_encoding(tmp_path):
    path = tmp_path / "d.md"
    path.write_bytes("# Titre\n\nCafé crème.".encode("utf-16"))
    document = load_document(path, Decoding("auto"))
    assert document is not None
    assert document == ("Titre\nCafé crème.", "Titre", "utf-16")
