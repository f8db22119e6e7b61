"""`embedcli train --algorithm glove` as issue 20 writes it: every example, outputs loaded back by gensim and by
`embedcli similar`, the saved matrix reused, determinism, --eval, --estimate, --config and refused options."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA, run_cli
from gensim.models import KeyedVectors
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.errors import UsageError
from embedcli.formats.outputs import METADATA_KEY
from embedcli.tokens import simple_preprocess
from embedcli.train.glove import (
    GloveSettings,
    count_cooccurrences,
    load_cooccurrence,
    train_glove,
    vocabulary_from_counts,
)

BOOKS = ("1342-0.txt", "2701-0.txt")  # Pride and Prejudice, Moby Dick
SMALL = ["--dim", "16", "--epochs", "3", "--workers", "1", "-q"]


def train(*args: str | Path) -> str:
    """`embedcli train ARGS` in this process; returns stderr. Raises what the command raises."""
    result = CliRunner().invoke(app, ["train", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small 'books': 1,200 lines from each of two Gutenberg novels."""
    folder = tmp_path_factory.mktemp("glove") / "books"
    folder.mkdir()
    for name in BOOKS:
        lines = (SHARED_DATA / "gutenberg-en" / name).read_text(encoding="utf-8").splitlines()
        (folder / name).write_text("\n".join(lines[200:1400]) + "\n", encoding="utf-8")
    return folder


def book_paths(books: Path) -> list[Path]:
    return sorted(books.glob("*.txt"))


def token_lines(books: Path) -> list[list[str]]:
    lines = [line for path in book_paths(books) for line in path.read_text(encoding="utf-8").splitlines()]
    return [tokens for tokens in map(simple_preprocess, lines) if tokens]


def expected_words(books: Path, min_count: int = 5) -> set[str]:
    counts = Counter(t for tokens in token_lines(books) for t in tokens)
    return {word for word, n in counts.items() if n >= min_count}


def test_glove_txt_is_the_stanford_text_format_and_similar_reads_it(books: Path, tmp_path: Path) -> None:
    out = tmp_path / "glove.txt"
    stderr = train(*book_paths(books), "--algorithm", "glove", "-o", out)
    assert "trained GloVe (100-d, window 15, x_max 100)" in stderr and "25 epochs" in stderr
    first = out.read_text(encoding="utf-8").split("\n", 1)[0].split(" ")
    assert len(first) == 101 and not first[0].isdigit()  # no "count dim" header: a word and 100 values
    kv = KeyedVectors.load_word2vec_format(str(out), no_header=True)
    assert set(kv.index_to_key) == expected_words(books) and kv.vector_size == 100
    assert np.isfinite(kv.vectors).all()

    result = CliRunner().invoke(app, ["similar", str(out), "whale", "-k", "10"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert [hit["id"] for hit in hits] == [word for word, _ in kv.most_similar("whale", topn=10)]


def test_bin_with_settings_and_eval_prints_the_figures(books: Path, tmp_path: Path) -> None:
    out = tmp_path / "glove.bin"
    args = ["--dim", "24", "--window", "15", "--x-max", "10", "--epochs", "15", "--workers", "1"]
    stderr = train(*book_paths(books), "--algorithm", "glove", *args, "-o", out, "--eval")
    for figure in ("questions-words.txt", "wordsim353.tsv", "simlex999.txt", "Spearman", "analogy accuracy"):
        assert figure in stderr
    assert "15 epochs" in stderr and "x_max 10" in stderr
    kv = KeyedVectors.load_word2vec_format(str(out), binary=True)
    assert kv.vector_size == 24 and set(kv.index_to_key) == expected_words(books)


def test_vectors_equal_the_library_called_directly(books: Path, tmp_path: Path) -> None:
    """Same corpus, same settings: the CLI's vectors are train_glove's on count_cooccurrences', bit for bit."""
    out = tmp_path / "v.npy"
    train(*book_paths(books), "--algorithm", "glove", "--x-max", "10", "--seed", "9", *SMALL, "-o", out)
    lines = token_lines(books)
    vocabulary = vocabulary_from_counts(Counter(t for tokens in lines for t in tokens), min_count=5)
    matrix = count_cooccurrences(lines, vocabulary, window=15)
    direct = train_glove(matrix, GloveSettings(dim=16, epochs=3, x_max=10.0, workers=1, seed=9))
    np.testing.assert_array_equal(np.load(out), direct)
    assert (tmp_path / "v.vocab.txt").read_text(encoding="utf-8").splitlines() == vocabulary.words


def test_stdin_save_cooccur_then_cooccur_gives_the_same_vectors(books: Path, tmp_path: Path) -> None:
    text = b"".join(path.read_bytes() for path in book_paths(books))
    (tmp_path / "corpus.txt.gz").write_bytes(gzip.compress(text))
    command = (
        f"zcat corpus.txt.gz | {sys.executable} -m embedcli train - --algorithm glove --save-cooccur cooc.npz "
        "-o g.parquet --dim 16 --epochs 3 --workers 1 --seed 4"
    )
    proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    one_run = pq.read_table(tmp_path / "g.parquet")
    assert one_run.column_names == ["word", "count", "embedding"]
    metadata = orjson.loads(one_run.schema.metadata[METADATA_KEY])
    assert metadata["config"]["algorithm"] == "glove" and metadata["config"]["x_max"] == 100.0

    matrix = load_cooccurrence(str(tmp_path / "cooc.npz"))  # the matrix the library counts on the same lines
    lines = token_lines(books)
    direct = count_cooccurrences(lines, vocabulary_from_counts(Counter(t for ts in lines for t in ts)), 15)
    assert matrix.vocabulary.words == direct.vocabulary.words
    np.testing.assert_array_equal(matrix.values, direct.values)

    train("--algorithm", "glove", "--cooccur", tmp_path / "cooc.npz", *SMALL, "--seed", "4", "-o", tmp_path / "r.pq")
    again = pq.read_table(tmp_path / "r.pq")
    assert again.column("word").to_pylist() == one_run.column("word").to_pylist()
    assert again.column("count").to_pylist() == one_run.column("count").to_pylist()
    np.testing.assert_array_equal(
        np.asarray(again.column("embedding").to_pylist()), np.asarray(one_run.column("embedding").to_pylist())
    )

    train("--algorithm", "glove", "--cooccur", tmp_path / "cooc.npz", "--dim", "300", "-q", "-o", tmp_path / "g300.txt")
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "g300.txt"), no_header=True)
    assert kv.vector_size == 300 and kv.index_to_key == matrix.vocabulary.words


def test_one_worker_and_a_seed_write_the_same_bytes(books: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        train(*book_paths(books), "--algorithm", "glove", *SMALL, "--seed", "5", "-o", tmp_path / f"{name}.parquet")
        train(*book_paths(books), "--algorithm", "glove", *SMALL, "--seed", "5", "-o", tmp_path / f"{name}.bin")
    for suffix in ("parquet", "bin"):
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
    train(*book_paths(books), "--algorithm", "glove", *SMALL, "--seed", "6", "-o", tmp_path / "c.bin")
    assert (tmp_path / "c.bin").read_bytes() != (tmp_path / "a.bin").read_bytes()


def test_a_planted_two_topic_corpus_separates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    topics = [[f"sea{k}" for k in range(8)], [f"law{k}" for k in range(8)]]
    lines = []
    for _ in range(1500):  # mostly one topic per line, some words of the other (as in test_glove_fit)
        topic = int(rng.integers(2))
        lines.append(" ".join(topics[topic if rng.random() < 0.85 else 1 - topic][rng.integers(8)] for _ in range(12)))
    (tmp_path / "planted.txt").write_text("\n".join(lines) + "\n")
    train(tmp_path / "planted.txt", "--algorithm", "glove", "--dim", "16", "--epochs", "40", "--window", "5",
          "--x-max", "10", "--min-count", "1", "--tokenizer", "words", "--workers", "1", "-q",
          "-o", tmp_path / "p.txt")  # fmt: skip
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "p.txt"), no_header=True)
    within = np.mean([kv.similarity(a, b) for t in topics for a in t for b in t if a < b])
    across = np.mean([kv.similarity(a, b) for a in topics[0] for b in topics[1]])
    assert within > 0.8 and across < -0.5, (within, across)


def test_corpus_options_apply(books: Path, tmp_path: Path) -> None:
    train(*book_paths(books), "--algorithm", "glove", *SMALL, "--min-count", "3", "--max-final-vocab", "400",
          "--tokenizer", "regex", "--token-pattern", "[a-z]+", "--lowercase", "-o", tmp_path / "v.txt")  # fmt: skip
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"), no_header=True)
    assert 0 < len(kv) <= 400 and all(word.isalpha() and word.islower() for word in kv.index_to_key)


def test_config_file_format_choice_and_stdout(books: Path, tmp_path: Path) -> None:
    config = tmp_path / "glove.toml"
    config.write_text('algorithm = "glove"\nx-max = 10\nepochs = 2\ndim = 12\nworkers = 1\n')
    train(*book_paths(books), "--config", config, "--epochs", "3", "-q", "-o", tmp_path / "c.parquet")
    recorded = orjson.loads(pq.read_table(tmp_path / "c.parquet").schema.metadata[METADATA_KEY])["config"]
    assert (recorded["algorithm"], recorded["x_max"], recorded["epochs"], recorded["dim"]) == ("glove", 10.0, 3, 12)
    assert recorded["window"] == 15 and recorded["alpha"] == 0.75 and recorded["eta"] == 0.05  # glove.c's

    train(*book_paths(books), "--config", config, "-q", "-f", "txt", "-o", tmp_path / "w2v.txt")
    header = (tmp_path / "w2v.txt").read_text().split("\n", 1)[0].split()
    assert len(header) == 2 and header[1] == "12"  # --format txt: word2vec text, with its header

    result = CliRunner().invoke(app, ["train", *map(str, book_paths(books)), "--config", str(config), "-q", "-o", "-"])
    assert result.exit_code == 0
    (tmp_path / "out.txt").write_text(result.stdout)
    assert KeyedVectors.load_word2vec_format(str(tmp_path / "out.txt"), no_header=True).vector_size == 12


def test_estimate_prints_the_memory_by_part(books: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", *map(str, book_paths(books)), "--algorithm", "glove", "--estimate"])
    assert result.exit_code == 0
    assert f"vocabulary: {len(expected_words(books)):,} words" in result.stdout
    assert "vectors and AdaGrad sums" in result.stdout and "total:" in result.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "extra",
    [
        ["--sg"], ["--hs"], ["--negative", "5"], ["--sample", "0.001"], ["--min-alpha", "0.01"],
        ["--no-shrink-windows"], ["--bucket", "10"], ["--corpus-mode", "file"], ["--min-n", "2"], ["--dbow"],
        ["--save-model", "model"], ["--resume", "model", "--trust-pickle"],
    ],
)  # fmt: skip
def test_gensim_options_are_refused_for_glove(books: Path, tmp_path: Path, extra: list[str]) -> None:
    with pytest.raises(UsageError):
        train(*book_paths(books), "--algorithm", "glove", "-o", tmp_path / "v.txt", *extra)
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--x-max", "10"], ["--eta", "0.1"], ["--save-cooccur", "c.npz"],  # GloVe options without glove
        ["--algorithm", "glove", "--cooccur", "c.npz"],  # inputs as well as a saved matrix
    ],
)  # fmt: skip
def test_glove_options_are_refused_elsewhere(books: Path, tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(UsageError):
        train(*book_paths(books), "-o", tmp_path / "v.txt", *args)


def test_counting_options_are_refused_with_a_saved_matrix(books: Path, tmp_path: Path) -> None:
    cooc = tmp_path / "c.npz"
    train(*book_paths(books), "--algorithm", "glove", "--save-cooccur", cooc, "-q")  # counting only
    assert load_cooccurrence(str(cooc)).window == 15
    with pytest.raises(UsageError, match="--min-count does not apply with --cooccur"):
        train("--algorithm", "glove", "--cooccur", cooc, "--min-count", "2", "-o", tmp_path / "v.txt")
    proc = run_cli("train", "--algorithm", "glove", "--cooccur", str(cooc), "--window", "5", "-o", str(tmp_path / "w"))
    assert proc.returncode == 2 and len(proc.stderr.decode().strip().splitlines()) == 1
