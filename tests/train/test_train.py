"""`embedcli train` on real text: vocabulary, determinism, every output format through gensim's loaders,
FastText subwords, evaluation numbers, pipes and errors. Models are small (16-d, 1-2 epochs) to stay fast."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, run_cli

from embedcli.errors import InputError, UsageError
from embedcli.formats.word_vectors import load_word_vectors, vocab_path_for
from embedcli.records import Record
from embedcli.tokens import Tokenizer, simple_preprocess
from embedcli.train.evaluation import evaluate, shipped_file
from embedcli.train.run import Targets, run_training
from embedcli.train.saving import VectorFileFormat, write_vectors
from embedcli.train.sentences import MAX_TOKENS, tokenize_records
from embedcli.train.settings import Algorithm, CorpusMode, Preset, TrainSettings

BOOK = SHARED_DATA / "gutenberg-en" / "1342-0.txt"  # Pride and Prejudice: UTF-8 with BOM and CRLF
SMALL = dict(dim=16, epochs=1, workers=1, min_count=3, seed=7)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3,000 lines of a real book, bytes as they are (BOM, CRLF)."""
    raw = BOOK.read_bytes().split(b"\n")[:3000]
    path = tmp_path_factory.mktemp("corpus") / "book.txt"
    path.write_bytes(b"\n".join(raw))
    return path


@pytest.fixture(scope="module")
def book_lines(corpus_file: Path) -> list[str]:
    return corpus_file.read_text(encoding="utf-8-sig").splitlines()


def _records(lines: list[str]) -> list[Record]:
    return [Record(str(i), line) for i, line in enumerate(lines, start=1) if line.strip()]


@pytest.fixture(scope="module")
def w2v(book_lines: list[str]):
    outcome = run_training(_records(book_lines), TrainSettings(**SMALL), Targets())
    return outcome


def test_vocabulary_counts_equal_a_direct_count(w2v, book_lines: list[str]) -> None:
    from gensim.models import Word2Vec

    direct = Counter(t for line in book_lines for t in simple_preprocess(line))
    kv = w2v.model.wv
    expected = {w: c for w, c in direct.items() if c >= 3}
    assert {w: kv.get_vecattr(w, "count") for w in kv.index_to_key} == expected
    # gensim's own vocabulary scan gives the same words in the same order (ties included)
    sentences = [simple_preprocess(line) for line in book_lines]
    own = Word2Vec(vector_size=16, min_count=3)
    own.build_vocab([s for s in sentences if s])
    assert own.wv.index_to_key == kv.index_to_key
    assert w2v.corpus.tokens == sum(direct.values())


@pytest.mark.parametrize("suffix", [".bin", ".txt", ".vec", ".parquet", ".npy"])
def test_every_output_format_round_trips(w2v, tmp_path: Path, suffix: str) -> None:
    from gensim.models import KeyedVectors

    kv = w2v.model.wv
    target = str(tmp_path / f"vectors{suffix}")
    fmt = {".bin": "bin", ".txt": "txt", ".vec": "txt", ".parquet": "parquet", ".npy": "npy"}[suffix]
    written = write_vectors(w2v.model, target, VectorFileFormat(fmt), [], w2v.metadata())
    assert sorted(os.listdir(tmp_path)) == sorted(Path(p).name for p in written)  # no temporary file left
    if suffix in (".bin", ".txt", ".vec"):
        back = KeyedVectors.load_word2vec_format(target, binary=suffix == ".bin")
        words, vectors = back.index_to_key, back.vectors
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(target)
        assert table.column_names == ["word", "count", "embedding"]
        words = table.column("word").to_pylist()
        vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
        assert table.column("count").to_pylist() == [kv.get_vecattr(w, "count") for w in words]
    else:
        vectors = np.load(target)
        words = vocab_path_for(target).read_text(encoding="utf-8").splitlines()
    assert words == kv.index_to_key
    np.testing.assert_allclose(vectors, kv.vectors, rtol=1e-5, atol=1e-6)
    loaded = load_word_vectors(target)  # what `embed --model` and `similar` use
    assert loaded.index_to_key == kv.index_to_key
    np.testing.assert_allclose(loaded.vectors, kv.vectors, rtol=1e-5, atol=1e-6)


def test_determinism_across_processes(corpus_file: Path, tmp_path: Path) -> None:
    args = ["train", str(corpus_file), "--dim", "16", "--epochs", "2", "--workers", "1", "--seed", "3", "-q"]
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"v{hash_seed}.bin"
        run_cli(*args, "-o", str(out), env={"PYTHONHASHSEED": hash_seed}, check=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_fasttext_bin_gives_subword_vectors_for_unseen_words(book_lines: list[str], tmp_path: Path) -> None:
    from gensim.models.fasttext import load_facebook_model

    settings = TrainSettings(**SMALL, algorithm=Algorithm.fasttext, bucket=20_000)
    outcome = run_training(_records(book_lines), settings, Targets(str(tmp_path / "ft.bin"), VectorFileFormat.binary))
    unseen = "bennetishness"
    assert unseen not in outcome.model.wv.key_to_index
    expected = outcome.model.wv[unseen]
    assert np.linalg.norm(expected) > 0
    reloaded = load_facebook_model(str(tmp_path / "ft.bin"))
    np.testing.assert_allclose(reloaded.wv[unseen], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reloaded.wv["elizabeth"], outcome.model.wv["elizabeth"], rtol=1e-5, atol=1e-6)
    loaded = load_word_vectors(str(tmp_path / "ft.bin"))
    np.testing.assert_allclose(loaded[unseen], expected, rtol=1e-5, atol=1e-6)


def test_embed_uses_every_train_output(w2v, tmp_path: Path) -> None:
    from embedcli.backends.base import BackendOptions
    from embedcli.backends.models import resolve_model
    from embedcli.embed.run import open_backend

    kv = w2v.model.wv
    expected = np.mean([kv["elizabeth"], kv["darcy"]], axis=0)
    for fmt in VectorFileFormat:
        target = str(tmp_path / f"v.{fmt.value}")
        write_vectors(w2v.model, target, fmt, [], w2v.metadata())
        backend = open_backend("word-vectors", resolve_model(target), BackendOptions())
        np.testing.assert_allclose(backend.embed(["Elizabeth Darcy"])[0], expected, rtol=1e-5, atol=1e-6)


def test_evaluation_equals_gensims_own(w2v) -> None:
    kv = w2v.model.wv
    results = evaluate(kv)
    score, sections = kv.evaluate_word_analogies(shipped_file("questions-words.txt"))
    analogy = results["analogies"][0]
    assert analogy.accuracy == pytest.approx(score)
    assert analogy.evaluated == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    assert analogy.questions == 19544
    for row, name in zip(results["pairs"], ("wordsim353.tsv", "simlex999.txt"), strict=True):
        pearson, spearman, oov = kv.evaluate_word_pairs(shipped_file(name))
        assert row.spearman == pytest.approx(spearman[0])
        assert row.pearson == pytest.approx(pearson[0])
        assert row.oov_rate == pytest.approx(oov / 100)


def test_long_texts_are_split_not_truncated() -> None:
    words = [f"w{i % 50}" for i in range(MAX_TOKENS * 2 + 500)]
    records = [Record("1", " ".join(words)), Record("2", "short text here")]
    corpus = tokenize_records(records, Tokenizer.whitespace)
    assert corpus.stats.split_texts == 1
    assert [len(s) for s in corpus] == [MAX_TOKENS, MAX_TOKENS, 500, 3]
    assert corpus.tags == [0, 0, 0, 1]
    assert sum(corpus.counts.values()) == len(words) + 3


def test_spooled_corpus_file_is_removed(book_lines: list[str]) -> None:
    corpus = tokenize_records(_records(book_lines[:200]), Tokenizer.simple, spool=True)
    assert corpus.path is not None and os.path.exists(corpus.path)
    in_memory = tokenize_records(_records(book_lines[:200]), Tokenizer.simple)
    assert list(corpus) == list(in_memory)
    corpus.close()
    assert not os.path.exists(corpus.path)


def test_tokenizers_and_phrases(book_lines: list[str]) -> None:
    text = ["New York is big. new york, NEW YORK!"] * 30 + ["the city of New York"] * 5
    records = [Record(str(i), t) for i, t in enumerate(text)]
    regex = tokenize_records(records, Tokenizer.regex, r"[A-Za-z]+", lowercase=True)
    assert regex.counts["york"] == 95 and "York" not in regex.counts
    kept = tokenize_records(records, Tokenizer.whitespace)
    assert kept.counts["York"] == 35 and kept.counts["york,"] == 30
    settings = TrainSettings(dim=8, epochs=1, workers=1, min_count=1, phrases=True, phrases_min_count=2)
    outcome = run_training(records + _records(book_lines[:1000]), settings, Targets())
    assert outcome.phrases >= 1 and "new_york" in outcome.model.wv.key_to_index
    assert outcome.model.wv.get_vecattr("new_york", "count") == 95


def test_settings_follow_gensim_defaults_and_presets() -> None:
    from gensim.models import Doc2Vec, Word2Vec

    w2v = TrainSettings().resolved().gensim_kwargs()
    assert Word2Vec(**w2v).epochs == 5 and Word2Vec(**w2v).sg == 0
    assert Doc2Vec(**TrainSettings(algorithm=Algorithm.doc2vec).resolved().gensim_kwargs()).epochs == 10
    items = TrainSettings(preset=Preset.items).resolved()
    assert items.tokenizer is Tokenizer.whitespace and items.sg and items.min_count == 1
    assert TrainSettings(preset=Preset.items, min_count=4).resolved().min_count == 4
    assert TrainSettings(hs=True).gensim_kwargs()["negative"] == 0
    with pytest.raises(UsageError):
        TrainSettings(tokenizer=Tokenizer.regex).resolved()


def test_doc2vec_vectors_keyed_by_record_id(tmp_path: Path, book_lines: list[str]) -> None:
    import pyarrow.parquet as pq

    docs = [Record(f"doc{i}", " ".join(book_lines[i : i + 20])) for i in range(0, 2000, 20)]
    settings = TrainSettings(**SMALL, algorithm=Algorithm.doc2vec)
    out = tmp_path / "docs.parquet"
    outcome = run_training(docs, settings, Targets(str(out), VectorFileFormat.parquet, save_model=str(tmp_path / "m")))
    table = pq.read_table(out)
    assert table.column_names == ["id", "embedding"]
    assert table.column("id").to_pylist() == [d.id for d in docs if simple_preprocess(d.text)]
    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(vectors, outcome.model.dv.vectors, rtol=1e-6)
    assert (tmp_path / "m" / "embedcli-model.json").exists()


def test_empty_vocabulary_and_empty_corpus_fail_clearly() -> None:
    with pytest.raises(InputError, match="empty vocabulary"):
        run_training([Record("1", "only a few words here")], TrainSettings(**SMALL), Targets())
    with pytest.raises(InputError, match="empty corpus"):
        run_training([Record("1", "... !!! 7")], TrainSettings(**SMALL), Targets())


# --- the command itself, in a subprocess: pipes, files, errors ---


def test_stdin_gzip_to_parquet_leaves_no_temporary_files(corpus_file: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    out = tmp_path / "vectors.parquet"
    data = gzip.compress(corpus_file.read_bytes())
    proc = run_cli(
        "train", "-", "-o", str(out), "--dim", "16", "--epochs", "1", "--workers", "2", "--corpus-mode", "file",
        input=data, env={"TMPDIR": str(spool_dir)}, check=True,
    )  # fmt: skip
    assert b"gensim file path" in proc.stderr and proc.stdout == b""
    assert os.listdir(spool_dir) == []
    table = pq.read_table(out)
    assert table.column_names == ["word", "count", "embedding"] and table.num_rows > 100


def test_cli_eval_json_and_estimate(corpus_file: Path, tmp_path: Path) -> None:
    import orjson

    report = tmp_path / "eval.json"
    proc = run_cli(
        "train", str(corpus_file), "--eval", "--eval-json", str(report),
        "--dim", "16", "--epochs", "1", "--workers", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b"questions-words.txt" in proc.stderr and b"Spearman" in proc.stderr
    data = orjson.loads(report.read_bytes())
    assert [r["file"] for r in data["pairs"]] == ["wordsim353.tsv", "simlex999.txt"]
    assert 0 < data["analogies"][0]["oov_rate"] <= 1
    proc = run_cli("train", str(corpus_file), "--estimate", check=True)
    assert b"total:" in proc.stdout and b"vocabulary:" in proc.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--text-field", "body"], 1, b"no field 'body'"),
        (["--min-count", "100000"], 1, b"empty vocabulary"),
        (["--tokenizer", "regex"], 2, b"--token-pattern"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, args: list[str], code: int, message: bytes) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "a small corpus of words"}\n' * 20)
    out = tmp_path / "v.bin"
    proc = run_cli("train", str(source), "-o", str(out), *args)
    assert proc.returncode == code
    assert message in proc.stderr and b"Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["docs.jsonl"]


def test_cli_empty_corpus_from_stdin(tmp_path: Path) -> None:
    proc = run_cli("train", "-", "-o", str(tmp_path / "v.bin"), input=b"\n \n...\n")
    assert proc.returncode == 1 and b"empty corpus" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_cli_items_preset_then_embed(tmp_path: Path) -> None:
    import orjson

    rng = np.random.default_rng(0)
    sessions = "\n".join(" ".join(f"Sku{i}" for i in rng.integers(0, 60, size=5)) for _ in range(800))
    (tmp_path / "sessions.txt").write_text(sessions + "\n")
    run_cli("train", "sessions.txt", "--preset", "items", "-o", "items.bin", "--epochs", "2", cwd=tmp_path, check=True)
    kv = load_word_vectors(str(tmp_path / "items.bin"))
    assert "Sku1" in kv.key_to_index and len(kv) == 60  # ids kept exactly as written (case too), min-count 1
    proc = run_cli("embed", "-t", "Sku1 Sku2", "--model", "items.bin", "--format", "jsonl", cwd=tmp_path, check=True)
    vector = np.asarray(orjson.loads(proc.stdout)["embedding"], dtype=np.float32)
    np.testing.assert_allclose(vector, (kv["Sku1"] + kv["Sku2"]) / 2, rtol=1e-5, atol=1e-6)


def test_cli_help_has_examples_and_says_stdin_is_spooled() -> None:
    out = run_cli("train", "--help", check=True).stdout.decode()
    assert "embedcli train corpus.txt -o vectors.bin" in out
    assert "spooled" in out


def test_saved_model_loads_only_with_trust_pickle(w2v, tmp_path: Path) -> None:
    from embedcli.errors import ModelError
    from embedcli.formats.word_vectors import load_saved_model
    from embedcli.train.saving import save_model

    folder = tmp_path / "model"
    save_model(w2v.model, str(folder), w2v.metadata())
    with pytest.raises(ModelError, match="pickle"):
        load_word_vectors(str(folder))
    loaded = load_saved_model(folder, trust_pickle=True)
    np.testing.assert_array_equal(loaded.wv.vectors, w2v.model.wv.vectors)
    np.testing.assert_array_equal(load_word_vectors(str(folder), trust_pickle=True).vectors, w2v.model.wv.vectors)


def test_cli_resume_needs_trust_pickle_and_grows_the_vocabulary(corpus_file: Path, tmp_path: Path) -> None:
    small = ["--dim", "16", "--epochs", "1", "--workers", "1", "-q"]
    run_cli("train", str(corpus_file), "--save-model", "m", *small, cwd=tmp_path, check=True)
    more = tmp_path / "more.txt"
    more.write_text("zanzibar quixotic " * 10 + "\n")
    refused = run_cli("train", str(more), "--resume", "m", "-o", "r.bin", *small, cwd=tmp_path)
    assert refused.returncode == 1 and b"--trust-pickle" in refused.stderr
    assert not (tmp_path / "r.bin").exists()
    proc = run_cli("train", str(more), "--resume", "m", "--trust-pickle", "-o", "r.bin", *small, cwd=tmp_path)
    assert proc.returncode == 0 and b"warning" in proc.stderr
    before = load_word_vectors(str(tmp_path / "m"), trust_pickle=True)
    after = load_word_vectors(str(tmp_path / "r.bin"))
    assert len(after) == len(before) + 2 and "quixotic" in after.key_to_index


def test_epoch_loss_is_whole_with_several_workers(book_lines: list[str]) -> None:
    """gensim's own running loss loses most of it when threads overwrite each other; ours adds every job's."""
    records = _records(book_lines)
    settings = dict(dim=16, epochs=2, min_count=3, seed=7, compute_loss=True, corpus_mode=CorpusMode.iterable)
    one = run_training(records, TrainSettings(**settings, workers=1), Targets()).report.losses
    three = run_training(records, TrainSettings(**settings, workers=3), Targets()).report.losses
    assert all(loss is not None and loss > 0 for loss in one + three)
    np.testing.assert_allclose(three, one, rtol=0.1)
    assert one[1] < one[0]


def test_the_issue_examples_run_as_written(corpus_file: Path, book_lines: list[str], tmp_path: Path) -> None:
    """Every example in `embedcli train --help` (the issue's list), run by a shell in a folder of real files,
    and what each wrote checked against a direct count of the corpus and the files' own readers."""
    import json
    import subprocess
    import sys

    import orjson
    import pyarrow.parquet as pq

    from embedcli.cli.train import EPILOG
    from embedcli.formats.outputs import METADATA_KEY

    (tmp_path / "corpus.txt").write_bytes(corpus_file.read_bytes())
    (tmp_path / "corpus.txt.gz").write_bytes(gzip.compress(corpus_file.read_bytes()))
    (tmp_path / "books").mkdir()
    for i in range(2):
        (tmp_path / "books" / f"b{i}.txt").write_text("\n".join(book_lines[i * 1500 : (i + 1) * 1500]))
    with open(tmp_path / "docs.jsonl", "w") as f:
        for i in range(0, 3000, 30):
            f.write(json.dumps({"body": " ".join(book_lines[i : i + 30])}) + "\n")
    rng = np.random.default_rng(1)
    sessions = [[f"item{j}" for j in rng.integers(0, 50, size=6)] for _ in range(500)]
    (tmp_path / "sessions.txt").write_text("\n".join(map(" ".join, sessions)) + "\n")
    (tmp_path / "notes.txt").write_text("Elizabeth walked to the house.\nMr. Darcy was proud.\n")
    (tmp_path / "train.toml").write_text("dim = 24\nmin-count = 2\nsg = true\nepochs = 2\n")
    commands = [line.strip() for line in EPILOG.splitlines() if line.strip().startswith(("embedcli", "zcat"))]
    assert len(commands) == 11
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stderr.decode())

    counts = Counter(t for line in book_lines for t in simple_preprocess(line))
    words = {w for w, c in counts.items() if c >= 5}  # gensim's default --min-count
    for name, dim in (("vectors.bin", 100), ("vectors.txt", 200), ("vectors.parquet", 100), ("ft.bin", 100)):
        kv = load_word_vectors(str(tmp_path / name))
        assert set(kv.index_to_key) == words and kv.vector_size == dim, name
        assert np.isfinite(kv.vectors).all() and (np.linalg.norm(kv.vectors, axis=1) > 0).all(), name
    table = pq.read_table(tmp_path / "vectors.parquet")  # read from the gzipped pipe
    assert dict(zip(table.column("word").to_pylist(), table.column("count").to_pylist(), strict=True)) == {
        w: counts[w] for w in words
    }
    assert np.linalg.norm(load_word_vectors(str(tmp_path / "ft.bin"))["bennetishness"]) > 0  # subwords

    docs = pq.read_table(tmp_path / "docvecs.parquet")
    assert docs.column_names == ["id", "embedding"]
    assert docs.column("id").to_pylist() == [str(i) for i in range(1, 101)]  # line numbers of docs.jsonl
    assert np.asarray(docs.column("embedding").to_pylist()).shape == (100, 100)
    marker = json.loads((tmp_path / "d2v" / "embedcli-model.json").read_text())
    assert marker["class"] == "Doc2Vec" and marker["config"]["text_field"] == "body"

    items = load_word_vectors(str(tmp_path / "items.bin"))
    assert set(items.index_to_key) == {item for session in sessions for item in session}  # --min-count 1

    tuned = pq.read_table(tmp_path / "tuned.parquet")
    config = orjson.loads(tuned.schema.metadata[METADATA_KEY])["config"]
    assert (config["dim"], config["min_count"], config["sg"], config["epochs"]) == (24, 2, True, 10)  # flag wins
    assert set(tuned.column("word").to_pylist()) == {w for w, c in counts.items() if c >= 2}
    assert np.asarray(tuned.column("embedding").to_pylist()).shape == (tuned.num_rows, 24)

    kv = load_word_vectors(str(tmp_path / "vectors.bin"))
    notes = np.asarray(pq.read_table(tmp_path / "notes.parquet").column("embedding").to_pylist(), dtype=np.float32)
    texts = ("Elizabeth walked to the house.", "Mr. Darcy was proud.")
    expected = [np.mean([kv[t] for t in simple_preprocess(text) if t in kv.key_to_index], axis=0) for text in texts]
    np.testing.assert_allclose(notes, expected, rtol=1e-5, atol=1e-6)


def test_cli_vectors_to_stdout_as_word2vec_text(corpus_file: Path, tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    proc = run_cli(
        "train", str(corpus_file), "-o", "-", *["--dim", "8", "--epochs", "1", "--workers", "1", "-q"], check=True
    )
    (tmp_path / "v.txt").write_bytes(proc.stdout)
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    assert kv.vector_size == 8 and "elizabeth" in kv.key_to_index
    refused = run_cli("train", str(corpus_file), "-o", "-", "-f", "npy")
    assert refused.returncode == 2 and b"stdout" in refused.stderr


def test_one_worker_vectors_equal_gensim_called_directly(book_lines: list[str]) -> None:
    """Same settings, same corpus, one worker: embedcli's Word2Vec is gensim's, bit for bit."""
    from gensim.models import Word2Vec

    outcome = run_training(_records(book_lines), TrainSettings(**SMALL), Targets())
    sentences = [tokens for tokens in map(simple_preprocess, book_lines) if tokens]
    direct = Word2Vec(sentences, vector_size=16, epochs=1, workers=1, min_count=3, seed=7)
    assert outcome.model.wv.index_to_key == direct.wv.index_to_key
    np.testing.assert_array_equal(outcome.model.wv.vectors, direct.wv.vectors)


def test_a_killed_runs_corpus_spool_is_swept_by_the_next_run(corpus_file: Path, tmp_path: Path) -> None:
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = spool_dir / f"embedcli-{int(dead.stdout)}-abc123.part"  # what a SIGKILLed train leaves
    left.write_text("the old run's spooled corpus\n")
    run_cli(
        "train", str(corpus_file), "-o", str(tmp_path / "v.parquet"), "--dim", "8", "--epochs", "1",
        "--corpus-mode", "file", env={"TMPDIR": str(spool_dir)}, check=True,
    )  # fmt: skip
    assert os.listdir(spool_dir) == []
