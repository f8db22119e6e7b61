"""`embed` end to end: vectors equal the libraries called directly, for every input scenario and output format."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pyarrow as pa
import pytest
from conftest import shipped_model_dir
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.formats.vector_files import read_vector_table

TEXTS = [
    "The cat sat on the mat.",
    "A dog barked at the mailman.",
    "Quantum physics is hard.",
    "I love deep learning",
    "Embeddings map text to vectors.",
    "héllo wörld ✓",
]


def invoke(*args: str, input: bytes | str | None = None):
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def tiny_st(tiny_st_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_st_dir), device="cpu")


def write_inputs(folder, scenario: str) -> tuple[list[str], bytes | None]:
    """Input files (or stdin bytes) holding TEXTS in `scenario`'s format."""
    if scenario == "txt":
        (folder / "docs.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
        return [str(folder / "docs.txt")], None
    if scenario == "jsonl.gz":
        with gzip.open(folder / "docs.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps({"body": t, "doc_id": i + 1}) + "\n" for i, t in enumerate(TEXTS))
        return [str(folder / "docs.jsonl.gz"), "--text-field", "body", "--id-field", "doc_id"], None
    if scenario == "csv":
        import csv

        with open(folder / "docs.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "other"])
            writer.writerows([t, "x"] for t in TEXTS)
        return [str(folder / "docs.csv"), "--text-column", "text"], None
    return ["-"], ("\n".join(TEXTS) + "\n").encode()


def read_output(result, path, fmt):
    if path is not None:
        return read_vector_table(str(path))
    if fmt == "jsonl":
        rows = [json.loads(line) for line in result.stdout_bytes.splitlines()]
        return rows
    return pa.ipc.open_stream(io.BytesIO(result.stdout_bytes)).read_all()


@pytest.mark.parametrize("scenario", ["txt", "jsonl.gz", "csv", "stdin"])
@pytest.mark.parametrize("fmt", ["parquet", "npy", "arrows", "arrow", "jsonl"])
def test_vectors_equal_sentence_transformers(tmp_path, tiny_st_dir, tiny_st, scenario, fmt):
    args, stdin = write_inputs(tmp_path, scenario)
    out = tmp_path / f"v.{fmt}"
    invoke("embed", *args, "--model", str(tiny_st_dir), "-o", str(out), input=stdin)
    expected = tiny_st.encode(TEXTS, batch_size=32)
    table = read_vector_table(str(out))
    np.testing.assert_allclose(table.vectors, expected, atol=1e-5)
    if fmt != "npy":
        assert table.ids == [str(i) for i in range(1, len(TEXTS) + 1)]
        assert table.texts == TEXTS


def test_stdout_is_an_arrow_stream_into_a_pipe_with_metadata(tiny_st_dir, tiny_st):
    result = invoke("embed", "--model", str(tiny_st_dir), input="\n".join(TEXTS))
    table = pa.ipc.open_stream(io.BytesIO(result.stdout_bytes)).read_all()
    meta = json.loads(table.schema.metadata[b"embedcli"])
    assert meta["backend"] == "onnx"  # the default (auto) for a model that exports faithfully
    assert meta["model"] == str(tiny_st_dir)
    assert meta["dimension"] == 32 and meta["precision"] == "float32" and meta["max_length"] == 32
    assert meta["embedcli_version"]
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(vectors, tiny_st.encode(TEXTS), atol=1e-5)
    assert "embedded 6 texts" in result.stderr


def test_literal_texts_jsonl(tiny_st_dir, tiny_st):
    result = invoke("embed", "-t", TEXTS[0], "-t", TEXTS[1], "--model", str(tiny_st_dir), "--format", "jsonl", "-q")
    rows = [json.loads(line) for line in result.stdout_bytes.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"] and [r["text"] for r in rows] == TEXTS[:2]
    np.testing.assert_allclose([r["embedding"] for r in rows], tiny_st.encode(TEXTS[:2]), atol=1e-5)
    assert result.stderr == ""


def test_dim_normalize_prompt_match_the_library(tmp_path, tiny_st_dir, tiny_st):
    out = tmp_path / "v.parquet"
    invoke(
        "embed",
        "-t",
        TEXTS[0],
        "-t",
        TEXTS[2],
        "--model",
        str(tiny_st_dir),
        "--dim",
        "8",
        "--normalize",
        "--prompt",
        "query: ",
        "-o",
        str(out),
    )
    expected = tiny_st.encode(TEXTS[0:3:2], prompt="query: ", truncate_dim=8, normalize_embeddings=True)
    table = read_vector_table(str(out))
    np.testing.assert_allclose(table.vectors, expected, atol=1e-5)
    assert table.provenance.get("prompt") == "query: " and table.provenance.get("truncate_dim") == 8
    assert table.provenance.get("normalized") is True


@pytest.mark.parametrize("precision", ["float16", "int8", "uint8", "binary", "ubinary"])
def test_precisions_match_sentence_transformers_quantization(tmp_path, tiny_st_dir, tiny_st, precision):
    from sentence_transformers.util.quantization import quantize_embeddings

    out = tmp_path / "v.parquet"
    invoke(
        "embed",
        *[a for t in TEXTS for a in ("-t", t)],
        "--model",
        str(tiny_st_dir),
        "--precision",
        precision,
        "-o",
        str(out),
    )
    floats = tiny_st.encode(TEXTS)
    table = read_vector_table(str(out))
    if precision == "float16":
        np.testing.assert_allclose(table.vectors.astype(np.float32), floats, atol=1e-3)
        return
    expected = quantize_embeddings(floats, precision=precision)
    if precision in ("int8", "uint8"):
        # Rounding can differ by one bucket where a value sits on a bucket edge after tiny float differences.
        assert np.abs(table.vectors.astype(int) - expected.astype(int)).max() <= 1
        assert len(table.provenance.get("quantization_ranges")) == 2
    else:
        np.testing.assert_array_equal(table.vectors, expected)
    assert table.vectors.dtype == expected.dtype


def test_truncation_is_counted_and_reported(tiny_st_dir):
    long_text = " ".join(["word"] * 100)
    result = invoke(
        "embed",
        "-t",
        long_text,
        "-t",
        "short",
        "-t",
        long_text,
        "--model",
        str(tiny_st_dir),
        "--max-length",
        "16",
        "--format",
        "jsonl",
    )
    assert "2 texts truncated to 16 tokens" in result.stderr


def test_transformers_backend_is_masked_mean_pooling(tiny_bert_dir, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "v.npy"
    texts = [*TEXTS, " ".join(["longer"] * 40)]
    invoke(
        "embed",
        *[a for t in texts for a in ("-t", t)],
        "--backend",
        "transformers",
        "--model",
        str(tiny_bert_dir),
        "--batch-size",
        "3",
        "-o",
        str(out),
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    expected = []
    with torch.no_grad():
        for text in texts:  # one at a time: no padding at all, so pooling is a plain mean
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=64)
            expected.append(model(**enc).last_hidden_state[0].mean(0).numpy())
    np.testing.assert_allclose(np.load(out), np.stack(expected), atol=1e-5)


def test_word_vectors_are_the_mean_of_known_words(word2vec_model, word2vec_bin, tmp_path):
    wv = word2vec_model.wv
    texts = ["Elizabeth walked with Darcy", "xyzzy qwertyuiop", "the house"]
    (tmp_path / "in.txt").write_text("\n".join(texts))
    out = tmp_path / "v.parquet"
    result = invoke("embed", str(tmp_path / "in.txt"), "--model", str(word2vec_bin), "-o", str(out))
    table = read_vector_table(str(out))
    assert table.provenance.get("backend") == "word-vectors"
    for row, text in enumerate(texts):
        words = [w.lower() for w in text.split() if w.lower() in wv.key_to_index]
        expected = np.mean([wv[w] for w in words], axis=0) if words else np.zeros(wv.vector_size)
        np.testing.assert_allclose(table.vectors[row], expected, atol=1e-6)
    assert "2 of 8 words (25.0%) were out of vocabulary" in result.stderr
    assert "1 text had none of its words in the vocabulary" in result.stderr


def test_word_vectors_text_and_glove_formats(word2vec_model, tmp_path):
    wv = word2vec_model.wv
    w2v_txt, glove = tmp_path / "w.txt", tmp_path / "glove.txt"
    wv.save_word2vec_format(str(w2v_txt), binary=False)
    glove.write_text("".join(line for line in w2v_txt.read_text().splitlines(keepends=True)[1:]))
    for path in (w2v_txt, glove):
        out = tmp_path / f"{path.stem}.npy"
        invoke("embed", "-t", "darcy", "--model", str(path), "-o", str(out), "-q")
        np.testing.assert_allclose(np.load(out)[0], wv["darcy"], atol=1e-5)


def test_default_model_is_the_shipped_all_minilm(tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "v.parquet"
    invoke("embed", *[a for t in TEXTS for a in ("-t", t)], "-o", str(out))
    table = read_vector_table(str(out))
    direct = SentenceTransformer(str(shipped_model_dir()), device="cpu").encode(TEXTS)
    assert table.provenance.get("model") == "all-MiniLM-L6-v2" and table.provenance.get("dimension") == 384
    assert table.provenance.get("model_normalizes") is True
    np.testing.assert_allclose(table.vectors, direct, atol=1e-5)


def test_default_model_ranks_paraphrases_first(sample_sentences):
    result = invoke("embed", *[a for t in sample_sentences for a in ("-t", t)], "--format", "jsonl", "-q")
    vectors = np.array([json.loads(line)["embedding"] for line in result.stdout_bytes.splitlines()])
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1)
    # The sample holds four pairs of paraphrases: lines 2k and 2k+1.
    assert list(scores.argmax(axis=1)) == [i ^ 1 for i in range(len(sample_sentences))]


def test_word_vectors_keep_whole_item_ids_and_strip_punctuation(tmp_path):
    from gensim.models import Word2Vec

    sessions = [["SKU-1", "SKU-2", "dog"], ["SKU-2", "SKU-3", "dog"]] * 20
    wv = Word2Vec(sessions, vector_size=8, min_count=1, workers=1, seed=1, epochs=2).wv
    path = tmp_path / "items.txt"
    wv.save_word2vec_format(str(path))
    out = tmp_path / "v.npy"
    invoke("embed", "-t", "SKU-1 SKU-3", "-t", "dog, SKU-2!", "--model", str(path), "-o", str(out), "-q")
    vectors = np.load(out)
    np.testing.assert_allclose(vectors[0], (wv["SKU-1"] + wv["SKU-3"]) / 2, atol=1e-6)
    np.testing.assert_allclose(vectors[1], (wv["dog"] + wv["SKU-2"]) / 2, atol=1e-6)
