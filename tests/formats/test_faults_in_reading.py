"""Issue 17, the way in, at the reader: delimited input rules, long lines, NUL bytes, UTF-16 without a BOM, JSONL
texts that are not text, counted replacements, and the backends' cut before tokenizing."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from embedcli.backends.base import CHARS_PER_TOKEN_CAP, CHARS_PER_TOKEN_CEILING, cut_long_texts
from embedcli.errors import InputError, UsageError
from embedcli.formats import InputFormat
from embedcli.formats.sources import ByteSource, Decoding, decoded_blocks
from embedcli.formats.text_inputs import FieldSpec, Quoting, RecordReader

STS_TEST = SHARED_DATA / "stsbenchmark" / "sts-test.csv"


def read(paths, **kwargs):
    reader = RecordReader([str(p) for p in paths], **kwargs)
    return [tuple(r) for r in reader], reader


def failure(paths, **kwargs) -> InputError:
    with pytest.raises(InputError) as err:
        read(paths, **kwargs)
    return err.value


# -- delimited input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quoting", [Quoting.none, None])
def test_sts_test_gives_every_row_with_no_header_and_no_quoting(quoting):
    lines = STS_TEST.read_text(encoding="utf-8").splitlines()
    fields = FieldSpec(text_column="6", id_column="4", header=False, quoting=quoting)
    records, _ = read([STS_TEST], input_format=InputFormat.tsv, fields=fields)
    assert len(records) == len(lines) == 1379
    assert records == [(line.split("\t")[3], line.split("\t")[5]) for line in lines]


def test_sts_test_with_minimal_quoting_is_an_error_naming_the_line():
    err = failure([STS_TEST], input_format=InputFormat.tsv, fields=FieldSpec(text_column="7", header=False,
                  quoting=Quoting.minimal))  # fmt: skip
    assert err.message.startswith(f"{STS_TEST}:") and "fields, expected at least 7" in err.message
    assert "--quoting none" in (err.hint or "")


def test_sts_test_with_its_first_row_as_header_is_an_error():
    first_nine = next(n for n, line in enumerate(STS_TEST.read_text().splitlines(), 1) if line.count("\t") == 8)
    err = failure([STS_TEST], input_format=InputFormat.tsv, fields=FieldSpec(text_column="6"))
    assert err.message == f"{STS_TEST}:{first_nine}: 9 fields, expected 7 as in the header (TSV)"
    assert "--no-header" in (err.hint or "")


def test_columns_by_name_or_number(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('key,body,2\na,"the sea, the sky",x\n\nb,pride,y\n', encoding="utf-8")
    by_number, _ = read([path], fields=FieldSpec(text_column="2", id_column="1"))
    assert by_number == [("a", "x"), ("b", "y")]  # a header named "2" wins over column number 2
    by_name, _ = read([path], fields=FieldSpec(text_column="body", id_column="1"))
    assert by_name == [("a", "the sea, the sky"), ("b", "pride")]
    no_header, _ = read([path], fields=FieldSpec(text_column="2", header=False))
    assert no_header == [("1", "body"), ("2", "the sea, the sky"), ("3", "pride")]
    err = failure([path], fields=FieldSpec(header=False))
    assert err.message == f"{path}: no column 'text'" and "1 to 3 (no header)" in (err.hint or "")
    assert "4" in failure([path], fields=FieldSpec(text_column="4")).message


@pytest.mark.parametrize(("body", "line", "got"), [("a,one\nb\n", 3, 1), ("a,one\nb,two,three\n", 3, 3)])
def test_a_row_that_does_not_fit_the_header_names_its_line(tmp_path, body, line, got):
    path = tmp_path / "t.csv"
    path.write_text("key,text\n" + body, encoding="utf-8")
    err = failure([path])
    assert err.message == f"{path}:{line}: {got} fields, expected 2 as in the header (CSV)"


def test_without_a_header_rows_may_run_past_the_columns_used_but_not_fall_short(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tone\nb\ttwo\textra\nc\n", encoding="utf-8")
    err = failure([path], fields=FieldSpec(text_column="2", header=False))
    assert err.message == f"{path}:3: 1 fields, expected at least 2 for the columns asked for (TSV)"


def test_quoting_none_keeps_quotes_and_minimal_reads_them(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text('text\n"quoted"\tx\n', encoding="utf-8")
    assert "2 fields" in failure([path]).message
    path.write_text('text\tother\n"a\tb"\tx\nsay "hi"\ty\n', encoding="utf-8")
    assert read([path], fields=FieldSpec(quoting=Quoting.minimal))[0][0] == ("1", "a\tb")
    assert "3 fields" in failure([path]).message  # TSV default: no quoting, so the quoted tab splits


# -- long lines, NUL bytes, encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["txt", "jsonl", "csv", "txt.gz"])
def test_a_line_longer_than_the_bound_names_file_and_line(tmp_path, suffix):
    path = tmp_path / f"long.{suffix}"
    long = "word " * 100
    body = {"txt": f"short\n{long}\n", "jsonl": f'{{"text": "a"}}\n{{"text": "{long}"}}\n', "csv": f"text\n{long}\n"}
    data = body.get(suffix, body["txt"]).encode()
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    err = failure([path], decoding=Decoding(max_line_bytes=200))
    assert err.message == f"{path}:2: line longer than 200 bytes"
    assert "--max-line-bytes" in (err.hint or "")
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"x" * 200 + b"\n" + b"y" * 200)  # exactly the bound, with or without a newline
    assert [len(t) for _, t in read([exact], decoding=Decoding(max_line_bytes=200))[0]] == [200, 200]
    assert read([path])[0]  # the default bound is generous


def test_blocks_bound_lines_too(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"short\n" + b"x" * 5000)
    with ByteSource(str(path)) as source, pytest.raises(InputError, match="line longer than 1,000 bytes"):
        list(decoded_blocks(source, Decoding(max_line_bytes=1000), size=256))


def test_nul_bytes_are_refused_naming_file_or_line(tmp_path):
    head = tmp_path / "blob.txt"
    head.write_bytes(b"some text\n\x00\x01\x02 binary\n")
    assert failure([head]).message.startswith(f"{head}: holds NUL bytes at byte 11")
    late = tmp_path / "late.txt"
    late.write_bytes(b"line\n" * 2000 + b"a\x00b\n")  # past the first block: named by its line
    assert failure([late]).message.startswith(f"{late}:2001: holds a NUL byte")
    with ByteSource(str(late)) as source, pytest.raises(InputError, match=f"{late}:2001: holds a NUL byte"):
        list(decoded_blocks(source, Decoding(), size=1000))


@pytest.mark.parametrize("order", ["le", "be"])
def test_utf16_without_a_bom_is_named_with_the_encoding_to_use(tmp_path, order):
    path = tmp_path / "u16.txt"
    path.write_bytes("the sea\nthe sky\n".encode(f"utf-16-{order}"))
    err = failure([path], decoding=Decoding(errors="replace"))
    assert err.message == f"{path}: looks like UTF-16 without a byte-order mark (NUL bytes between the characters)"
    assert err.hint == f"pass --encoding utf-16-{order}"
    assert read([path], decoding=Decoding(f"utf-16-{order}"))[0] == [("1", "the sea"), ("2", "the sky")]
    bom = tmp_path / "bom.txt"
    bom.write_bytes("the sea\n".encode("utf-16"))
    assert failure([bom], decoding=Decoding(errors="ignore")).hint == "pass --encoding utf-16"


def test_replacements_are_counted(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text\n" + 'café\n"na\xefve, \xe9t\xe9"\n'.encode("latin-1") + "kept \ufffd\n".encode())
    records, reader = read([path], decoding=Decoding(errors="replace"))
    assert [t for _, t in records] == ["caf\ufffd", "na\ufffdve, \ufffdt\ufffd", "kept \ufffd"]
    assert reader.replaced == 4  # the U+FFFD already in the file is not a replacement
    assert read([path], decoding=Decoding("latin-1"))[1].replaced == 0
    txt = tmp_path / "latin.txt"
    txt.write_bytes("é\n".encode("latin-1") * 3)
    assert read([txt], decoding=Decoding(errors="replace"))[1].replaced == 3


# -- JSONL texts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"), [("[1, 2]", "a list"), ('{"a": 1}', "an object"), ("true", "a boolean"), ("false", "a boolean")]
)
def test_a_jsonl_text_that_is_not_text_is_an_error(tmp_path, value, kind):
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"text": "ok"}}\n{{"text": {value}}}\n', encoding="utf-8")
    assert failure([path]).message == f"{path}:2: field 'text' holds {kind}, not text"


def test_jsonl_numbers_are_text_and_null_is_blank(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": 42}\n{"text": 2.5}\n{"text": null}\n', encoding="utf-8")
    records, reader = read([path])
    assert records == [("1", "42"), ("2", "2.5")] and reader.skipped_blank == 1


# -- one exit-code rule ----------------------------------------------------------------------------------------------


def test_a_file_that_exists_but_cannot_be_read_is_an_input_error(tmp_path):
    # As root every file is readable: the check runs in a child that has dropped to an unprivileged user.
    import numpy as np

    from embedcli.formats.vector_files import read_vector_table

    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    folder = Path(tempfile.mkdtemp(prefix="embedcli-test-"))  # pytest's own folders are closed to other users
    path = folder / "v.npy"
    np.save(path, np.ones((3, 4), np.float32))
    path.chmod(0o000)
    folder.chmod(0o755)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the exit status the error carries, never return into pytest
        status = 0
        try:
            os.setuid(65534)
            read_vector_table(str(path))
        except (InputError, UsageError) as exc:
            status = exc.exit_code if "permission denied" in exc.message else 99
        except BaseException:
            status = 98
        os.write(write_end, bytes([status]))
        os._exit(0)
    os.close(write_end)
    status = os.read(read_end, 1)
    os.waitpid(pid, 0)
    shutil.rmtree(folder)
    assert status == bytes([1])


# -- the backends' cut before tokenizing ------------------------------------------------------------------------------


def test_long_texts_are_cut_on_words_keeping_every_token_the_model_reads(tiny_st_dir: Path):
    from transformers import AutoTokenizer

    from embedcli.backends.hf import token_counter

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_st_dir))
    book = (SHARED_DATA / "gutenberg-en" / "1342-0.txt").read_text(encoding="utf-8-sig")[:200_000]
    long_words = ("x" * 500 + " ") * 400  # WordPiece: one [UNK] per 500 characters, past the first bound
    texts = ["short text", book, long_words, "y" * 100_000]
    cut = cut_long_texts(texts, 32, token_counter(tokenizer))
    assert cut[0] is texts[0]
    assert len(cut[1]) <= 32 * CHARS_PER_TOKEN_CEILING and book.startswith(cut[1])
    assert 32 * CHARS_PER_TOKEN_CEILING < len(cut[2]) <= 32 * CHARS_PER_TOKEN_CAP
    assert cut[3] == "y" * 32 * CHARS_PER_TOKEN_CAP
    for whole, part in zip(texts, cut, strict=True):
        assert (
            tokenizer(part, truncation=True, max_length=32)["input_ids"]
            == tokenizer(whole, truncation=True, max_length=32)["input_ids"]
        )
    assert cut_long_texts(texts, None, len) is texts
