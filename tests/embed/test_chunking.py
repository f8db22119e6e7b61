"""Chunking by the model's own tokens: whole Gutenberg novels (BOM, CRLF, Latin-1) cut into chunks that cover every
token with the asked overlap, never inside a word, spans that point back to the text; pooled document vectors
against the chunk vectors, and chunk vectors against sentence-transformers called directly."""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, shipped_model_dir

from embedcli.backends.base import BackendOptions
from embedcli.backends.models import resolve_model
from embedcli.embed.chunked import ChunkedRun, pool_vectors
from embedcli.embed.chunking import ChunkOptions, Pool, TokenSplitter
from embedcli.embed.pipeline import EmbedSettings
from embedcli.embed.request import open_backend
from embedcli.errors import UsageError
from embedcli.formats.sources import Decoding
from embedcli.formats.whole_texts import WholeTexts
from embedcli.records import Record

BOOKS = SHARED_DATA / "gutenberg-en"


def shipped_tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(shipped_model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()  # the file pads and truncates to 128 tokens; the oracle reads texts whole
    tokenizer.no_padding()
    return tokenizer


def read_book(path: Path, encoding: str = "utf-8") -> Record:
    (document,) = list(WholeTexts([str(path)], decoding=Decoding(encoding)))
    return document


def flat(lists) -> list:
    return [item for part in lists for item in part]


def token_offsets(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """The oracle: the tokenizer called directly on the whole text."""
    offsets = tokenizer.encode(text, add_special_tokens=False).offsets
    return [s for s, _ in offsets], [e for _, e in offsets]


def check_chunks(text: str, size: int, overlap: int) -> int:
    tokenizer = shipped_tokenizer()
    starts, ends = token_offsets(tokenizer, text)
    spans = list(TokenSplitter(tokenizer, ChunkOptions(size, overlap)).spans(text))
    first_token = {s: i for i, s in enumerate(starts)}
    last_token = {e: i + 1 for i, e in enumerate(ends)}
    # A chunk may end before token i only where whitespace separates tokens i-1 and i.
    word_starts = [
        i for i in range(1, len(starts)) if starts[i] > ends[i - 1] and text[ends[i - 1] : starts[i]].isspace()
    ]
    assert [s.number for s in spans] == list(range(1, len(spans) + 1))
    assert first_token[spans[0].start] == 0 and last_token[spans[-1].end] == len(starts)  # the whole text
    exact = 0
    for span, after in itertools.pairwise(spans):
        end, next_start = last_token[span.end], first_token[after.start]
        assert next_start <= end, "a gap between chunks"
        assert end - next_start <= overlap, "more overlap than asked"
        # The overlap starts at the first word boundary it can: exactly `overlap` tokens when a word starts there.
        at = bisect.bisect_left(word_starts, max(end - overlap, first_token[span.start] + 1))
        expected = min(word_starts[at], end) if at < len(word_starts) else end
        assert next_start == expected
        exact += end - next_start == overlap
    for span in spans:
        chunk = text[span.start : span.end]
        assert chunk == chunk.strip() and chunk
        # Never inside a word: whitespace (or the text's edge) on both sides of every chunk.
        assert span.start == 0 or text[span.start - 1].isspace()
        assert span.end == len(text) or text[span.end].isspace()
        # The chunk read alone is the same tokens, and no more than `size` of them.
        ids = tokenizer.encode(chunk, add_special_tokens=False).ids
        assert len(ids) == span.tokens <= size
    assert exact > len(spans) // 2  # most overlaps are exactly as asked
    return len(spans)


def test_chunks_cover_a_whole_novel_with_the_overlap_in_tokens_and_never_cut_a_word():
    document = read_book(BOOKS / "1342-0.txt")  # Pride and Prejudice: UTF-8 with a BOM, CRLF line ends
    raw = (BOOKS / "1342-0.txt").read_bytes()
    assert document.id == str(BOOKS / "1342-0.txt")
    assert document.text == raw.decode("utf-8-sig")  # spans index the text as in the file, BOM removed, CRLF kept
    assert check_chunks(document.text, 200, 20) > 700


def test_latin1_novel_is_chunked_from_its_decoded_text():
    path = BOOKS / "latin1" / "1661-8.txt"
    document = read_book(path, "latin-1")
    assert document.text == path.read_bytes().decode("latin-1")
    check_chunks(document.text, 120, 0)


def test_chunk_ends_prefer_paragraphs_then_sentences():
    tokenizer = shipped_tokenizer()
    paragraph = "One two three four five. Six seven eight nine ten."
    text = "\r\n\r\n".join([paragraph] * 6)
    spans = list(TokenSplitter(tokenizer, ChunkOptions(30, 0)).spans(text))
    # 12 tokens per paragraph: a 30-token window holds two paragraphs and ends at the blank line after them.
    assert [text[s.start : s.end] for s in spans] == ["\r\n\r\n".join([paragraph] * 2)] * 3
    spans = list(TokenSplitter(tokenizer, ChunkOptions(8, 0)).spans(paragraph))
    assert [paragraph[s.start : s.end] for s in spans] == ["One two three four five.", "Six seven eight nine ten."]


def test_a_word_longer_than_a_chunk_is_cut_and_counted():
    tokenizer = shipped_tokenizer()
    # WordPiece reads words up to 100 characters (longer ones are one [UNK]): this one is ~30 tokens.
    text = "short words " + "qzxjv" * 18 + " end"
    splitter = TokenSplitter(tokenizer, ChunkOptions(10, 2))
    spans = list(splitter.spans(text))
    assert splitter.cut_words >= 1
    assert all(s.tokens <= 10 for s in spans)
    assert "".join(text[s.start : s.end] for s in spans[:1]) == "short words"


def test_options_are_checked():
    with pytest.raises(UsageError, match="--overlap"):
        ChunkOptions(10, 10)
    with pytest.raises(UsageError, match="--chunk"):
        ChunkOptions(0)


@pytest.fixture(scope="module")
def st_backend(tiny_st_dir):
    options = BackendOptions(batch_size=8)
    return open_backend("sentence-transformers", resolve_model(str(tiny_st_dir)), options)


DOCS = [
    Record("a.txt", "The cat sat on the mat. " * 12),
    Record("b.txt", "A short note."),
    Record("c.txt", "Rain fell on the town all night, and the river rose. " * 9),
]


def chunk_rows(backend, settings: EmbedSettings, size: int = 20, overlap: int = 4):
    run = ChunkedRun(backend, settings, ChunkOptions(size, overlap))
    batches = list(run.batches(DOCS))
    columns = {name: flat(b.columns[name] for b in batches) for name in ("doc_id", "chunk", "start", "end")}
    return run, batches, columns


def test_chunk_vectors_equal_sentence_transformers_on_the_chunk_texts(st_backend, tiny_st_dir):
    from sentence_transformers import SentenceTransformer

    run, batches, columns = chunk_rows(st_backend, EmbedSettings(batch_size=4, window=5))
    texts = flat(b.texts for b in batches)
    ids = flat(b.ids for b in batches)
    documents = {d.id: d.text for d in DOCS}
    assert texts == [
        documents[d][s:e] for d, s, e in zip(columns["doc_id"], columns["start"], columns["end"], strict=True)
    ]
    assert ids == [f"{d}#{n}" for d, n in zip(columns["doc_id"], columns["chunk"], strict=True)]
    assert columns["doc_id"].count("b.txt") == 1 and len(ids) == run.summary.chunks > 3
    model = SentenceTransformer(str(tiny_st_dir), device="cpu")
    expected = model.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(np.concatenate([b.vectors for b in batches]), expected, atol=1e-5)
    assert run.report.truncated == 0  # every chunk fits the model (32 tokens with [CLS] and [SEP])


@pytest.mark.parametrize("pool", list(Pool))
@pytest.mark.parametrize("normalize", [False, True])
def test_pooled_vectors_are_the_pool_of_their_chunk_vectors(st_backend, pool, normalize):
    _, batches, columns = chunk_rows(st_backend, EmbedSettings(batch_size=4, window=5))
    chunk_vectors = np.concatenate([b.vectors for b in batches])
    settings = EmbedSettings(batch_size=4, window=5, normalize=normalize)
    pooled_run = ChunkedRun(st_backend, settings, ChunkOptions(20, 4, pool))
    pooled = list(pooled_run.batches(DOCS))
    assert flat(b.ids for b in pooled) == [d.id for d in DOCS]
    assert flat(b.texts for b in pooled) == [d.text for d in DOCS]
    vectors = np.concatenate([b.vectors for b in pooled])
    doc_ids = np.array(columns["doc_id"])
    for row, document in enumerate(DOCS):
        mine = chunk_vectors[doc_ids == document.id]
        oracle = {"mean": mine.mean(axis=0), "max": mine.max(axis=0), "first": mine[0]}[pool.value]
        if normalize:
            oracle = oracle / np.linalg.norm(oracle)
        np.testing.assert_allclose(vectors[row], oracle, atol=1e-6)
    assert flat(b.columns["chunks"] for b in pooled) == [int((doc_ids == d.id).sum()) for d in DOCS]
    assert pooled_run.provenance().extra["chunking"] == {"chunk": 20, "overlap": 4, "pool": pool.value}


def test_pool_vectors_mean_accumulates_in_float64():
    rows = np.array([[1e8, 1.0], [1.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(pool_vectors(rows, Pool.mean), np.array([50000000.5, 2.0], dtype=np.float32))


def test_a_chunk_past_the_models_limit_is_refused(st_backend):
    with pytest.raises(UsageError, match="--chunk 31 does not fit") as caught:
        ChunkedRun(st_backend, EmbedSettings(), ChunkOptions(31))
    assert "--chunk 30 or less" in (caught.value.hint or "")


def test_every_text_backend_chunks_by_the_same_tokens(st_backend, tiny_bert_dir, tiny_st_dir):
    """sentence-transformers, transformers and the ONNX fast path expose the model's own tokenizer to chunk with."""
    text = DOCS[2].text
    expected = list(TokenSplitter(st_backend.tokenizer, ChunkOptions(20, 4)).spans(text))
    transformers = open_backend("transformers", resolve_model(str(tiny_bert_dir)), BackendOptions())
    assert list(TokenSplitter(transformers.tokenizer, ChunkOptions(20, 4)).spans(text)) == expected
    assert expected == list(TokenSplitter(shipped_tokenizer(), ChunkOptions(20, 4)).spans(text))
