"""`embedcli similar` as users run it: pipes from `embed` with the real model, outputs, `| head`, user errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA, run_cli
from typer.testing import CliRunner

from embedcli.cli.app import app
from embedcli.metrics import Metric, brute_force
from embedcli.provenance import Provenance

SEED = 1234


def invoke(*args: str, input: bytes | str | None = None):
    result = CliRunner().invoke(app, ["similar", *args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sts_pairs(n: int) -> list[tuple[str, str]]:
    """The first `n` STS-B test pairs scored 4.6 or more: near-paraphrases."""
    pairs = []
    for line in (SHARED_DATA / "stsbenchmark" / "sts-test.csv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if float(fields[4]) >= 4.6 and fields[5] != fields[6]:
            pairs.append((fields[5], fields[6]))
    return pairs[:n]


@pytest.mark.slow
def test_embed_pipe_into_similar_finds_the_paraphrase(tmp_path):
    """texts -> embed (Arrow stream into a pipe) -> similar - "query": the real shipped model, as a user runs it."""
    pairs = sts_pairs(24)
    (tmp_path / "corpus.txt").write_text("\n".join(b for _, b in pairs) + "\n", encoding="utf-8")
    queries = [a for a, _ in pairs[:6]]
    embed = [sys.executable, "-m", "embedcli", "embed", "-q"]
    similar = [sys.executable, "-m", "embedcli", "similar", "-", *queries, "-k", "3"]
    with open(tmp_path / "corpus.txt", "rb") as source:
        producer = subprocess.Popen(embed, stdin=source, stdout=subprocess.PIPE)
        done = subprocess.run(similar, stdin=producer.stdout, capture_output=True, timeout=300)
        producer.stdout.close()
        assert producer.wait(timeout=300) == 0
    assert done.returncode == 0, done.stderr.decode()
    hits = jsonl(done.stdout.decode())
    assert len(hits) == 3 * len(queries)
    for query, paraphrase in pairs[:6]:
        best = next(h for h in hits if h["query"] == query and h["rank"] == 1)
        assert best["text"] == paraphrase and 0.5 < best["score"] <= 1.0


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    rng = np.random.default_rng(SEED)
    folder = tmp_path_factory.mktemp("vectors")
    corpus, queries = rng.standard_normal((300, 8)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    np.save(folder / "corpus.npy", corpus)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "wide.npy", rng.standard_normal((2, 9)).astype(np.float32))
    return folder, corpus, queries


@pytest.mark.parametrize("metric", [Metric.euclidean, Metric.dot, Metric.manhattan])
def test_vectors_against_vectors_equal_brute_force(vectors, metric):
    folder, corpus, queries = vectors
    out = invoke(str(folder / "corpus.npy"), "--queries", str(folder / "queries.npy"), "-k", "4", "--metric", metric)
    hits = jsonl(out.stdout)
    oracle = brute_force(metric, queries, corpus)
    for q in range(4):
        mine = [h for h in hits if h["query"] == str(q + 1)]
        best = np.lexsort((np.arange(300), -oracle[q]))[:4]
        assert [h["id"] for h in mine] == [str(j + 1) for j in best]
        assert [h["score"] for h in mine] == pytest.approx(metric_shown(metric, oracle[q][best]), rel=1e-5)


def metric_shown(metric: Metric, scores: np.ndarray) -> list[float]:
    return list(-scores if metric.is_distance else scores)


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_no_query_dedup_writes_files_by_suffix(vectors, suffix, tmp_path):
    folder, corpus, _ = vectors
    target = tmp_path / f"dupes.{suffix}"
    invoke(str(folder / "corpus.npy"), "-k", "2", "--threshold", "0.5", "-o", str(target))
    if suffix == "jsonl":
        rows = jsonl(target.read_text())
    elif suffix == "csv":
        rows = list(csv.DictReader(target.open(encoding="utf-8")))
    else:
        rows = pq.read_table(target).to_pylist()
    oracle = brute_force(Metric.cosine, corpus, corpus)
    np.fill_diagonal(oracle, -np.inf)
    expected = sum(min(2, int((o >= 0.5).sum())) for o in oracle)
    assert len(rows) == expected and all(float(r["score"]) >= 0.5 for r in rows)
    assert all(r["query"] != r["id"] for r in rows)
    assert not list(tmp_path.glob(".*part"))


def test_words_analogies_and_pairs(word2vec_bin, word2vec_model):
    kv = word2vec_model.wv
    hits = jsonl(invoke(str(word2vec_bin), "sister", "-k", "5").stdout)
    assert [h["id"] for h in hits] == [w for w, _ in kv.most_similar("sister", topn=5)]
    args = [str(word2vec_bin), "--positive", "sister", "--positive", "man", "--negative", "woman", "-k", "3"]
    hits = jsonl(invoke(*args).stdout)
    assert [h["score"] for h in hits] == pytest.approx(
        [s for _, s in kv.most_similar(positive=["sister", "man"], negative=["woman"], topn=3)], abs=1e-5
    )
    assert hits[0]["query"] == "sister + man - woman"
    hits = jsonl(invoke(str(word2vec_bin), "--pair", "sister", "brother", "--pair", "man", "house").stdout)
    assert [(h["query"], h["id"]) for h in hits] == [("sister", "brother"), ("man", "house")]
    assert hits[0]["score"] == pytest.approx(float(kv.similarity("sister", "brother")), abs=1e-6)


def test_terminal_table_never_reads_text_as_markup(tmp_path):
    import pyarrow as pa

    from embedcli.formats.outputs import vector_schema

    texts = ["[bold red]not markup[/]", "plain", "[link=x]y[/link]"]
    vectors = np.eye(3, dtype=np.float32)
    schema = vector_schema(vectors.dtype, 3, True, Provenance(model="none"))
    table = pa.table(
        [pa.array(["a", "b", "c"]), pa.array(texts), pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 3)],
        schema=schema,
    )
    pq.write_table(table, tmp_path / "v.parquet")
    out = invoke(str(tmp_path / "v.parquet"), "-k", "2", "--format", "table").stdout
    assert "[bold red]not markup[/]" in out and "[link=x]y[/link]" in out


def test_head_closes_the_pipe_quietly(tmp_path):
    # 20,000 rows x 5 hits is megabytes of JSONL: far more than a pipe holds, so the writer does see it close.
    np.save(tmp_path / "big.npy", np.random.default_rng(SEED).standard_normal((20_000, 8)).astype(np.float32))
    done = subprocess.run(
        f"{sys.executable} -m embedcli similar {tmp_path / 'big.npy'} -k 5 | head -n 2",
        shell=True,
        capture_output=True,
        timeout=120,
    )
    assert len(done.stdout.decode().splitlines()) == 2
    assert done.stderr.decode() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{f}/corpus.npy", "some text"], "does not record the model"),
        (["{f}/corpus.npy", "--queries", "{f}/wide.npy"], "9-d vectors, the corpus 8-d"),
        (["{f}/corpus.npy", "--pair", "a"], "--pair takes two words"),
        (["{f}/missing.parquet"], "no such file"),
        (["{f}/corpus.npy", "-o", "{f}/out.txt"], "cannot tell the output format"),
    ],
)
def test_user_errors_are_one_line(vectors, args, message):
    folder, _, _ = vectors
    done = run_cli("similar", *[a.format(f=folder) for a in args], timeout=120)
    err = done.stderr.decode()
    assert done.returncode in (1, 2), err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def _write_corpus(folder, fmt: str, corpus: np.ndarray):
    """The corpus as `embed` would write it, in `fmt`, with ids c1.. and texts t1.."""
    from embedcli.formats.outputs import open_vector_writer
    from embedcli.records import EmbeddedBatch

    path = folder / f"corpus.{fmt}"
    ids = [f"c{i + 1}" for i in range(len(corpus))]
    from embedcli.formats import OutputFormat

    with open_vector_writer(str(path), OutputFormat(fmt), Provenance(model="none")) as writer:
        writer.write(EmbeddedBatch(ids, [f"t{i + 1}" for i in range(len(corpus))], corpus))
    return path


@pytest.mark.parametrize("fmt", ["parquet", "npy", "arrows", "arrow", "jsonl"])
@pytest.mark.parametrize("via_stdin", [False, True])
def test_every_corpus_format_from_a_path_or_stdin(vectors, tmp_path, fmt, via_stdin):
    folder, corpus, queries = vectors
    path = _write_corpus(tmp_path, fmt, corpus)
    args = ["-" if via_stdin else str(path), "--queries", str(folder / "queries.npy"), "-k", "3"]
    if via_stdin:  # a real process: stdin is a pipe (CliRunner's stdin cannot be peeked at)
        hits = jsonl(run_cli("similar", *args, input=path.read_bytes(), check=True).stdout.decode())
    else:
        hits = jsonl(invoke(*args).stdout)
    oracle = brute_force(Metric.cosine, queries, corpus)
    prefix = "" if fmt == "npy" else "c"
    expected = [f"{prefix}{j + 1}" for q in range(4) for j in np.lexsort((np.arange(300), -oracle[q]))[:3]]
    assert [h["id"] for h in hits] == expected
    assert all(("text" in h) == (fmt != "npy") for h in hits)


def test_vector_queries_from_stdin_and_exclude_self(vectors, tmp_path):
    _, corpus, _ = vectors
    path = _write_corpus(tmp_path, "parquet", corpus)
    stream = _write_corpus(tmp_path / "..", "arrows", corpus[:5]).read_bytes()
    hits = jsonl(run_cli("similar", str(path), "--queries", "-", "-k", "1", input=stream, check=True).stdout.decode())
    assert [(h["query"], h["id"]) for h in hits] == [(f"t{i}", f"c{i}") for i in range(1, 6)]  # each finds itself
    args = ["similar", str(path), "--queries", "-", "-k", "1", "--exclude-self"]
    hits = jsonl(run_cli(*args, input=stream, check=True).stdout.decode())
    oracle = brute_force(Metric.cosine, corpus[:5], corpus)
    np.fill_diagonal(oracle[:, :5], -np.inf)
    assert [h["id"] for h in hits] == [f"c{np.argmax(o) + 1}" for o in oracle]


def test_text_queries_reuse_the_corpus_model_prompt_and_dim(tiny_st_dir, tmp_path):
    texts = ["The cat sat on the mat.", "A dog barked at the mailman.", "Quantum physics is hard.", "I love tea"]
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    args = ["embed", str(tmp_path / "docs.txt"), "--model", str(tiny_st_dir), "--dim", "16", "--prompt", "q: "]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "v.parquet")], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    hits = jsonl(invoke(str(tmp_path / "v.parquet"), *texts, "-k", "1").stdout)
    # Each text, embedded again as the corpus was (same model, prompt and --dim), finds itself at similarity 1.
    assert [(h["query"], h["id"]) for h in hits] == [(t, str(i + 1)) for i, t in enumerate(texts)]
    assert all(h["score"] == pytest.approx(1.0, abs=1e-5) for h in hits)
    hits = jsonl(invoke(str(tmp_path / "v.parquet"), texts[0], "-k", "1", "--prompt", "other: ").stdout)
    assert hits[0]["score"] < 0.99999  # a different prompt is a different vector


def test_vector_queries_from_another_model_are_refused(vectors, tmp_path):
    from embedcli.formats import OutputFormat
    from embedcli.formats.outputs import open_vector_writer
    from embedcli.records import EmbeddedBatch

    _, corpus, _ = vectors
    for name, model in (("a", "model-a"), ("b", "model-b")):
        with open_vector_writer(
            str(tmp_path / f"{name}.parquet"), OutputFormat.parquet, Provenance(model=model)
        ) as writer:
            writer.write(EmbeddedBatch(["1", "2"], ["x", "y"], corpus[:2]))
    done = run_cli("similar", str(tmp_path / "a.parquet"), "--queries", str(tmp_path / "b.parquet"))
    assert done.returncode == 1 and "embedded with model-b, the corpus with model-a" in done.stderr.decode()


def _stderr_of(args: list[str], tty: bool) -> bytes:
    """The stderr bytes of `embedcli similar ARGS`, with stderr a pseudo-terminal or a pipe."""
    import os
    import pty
    import threading

    if not tty:
        return run_cli("similar", *args, check=True).stderr
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "embedcli", "similar", *args],
            stdout=subprocess.DEVNULL, stderr=follower, timeout=120, check=False,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"},
        )  # fmt: skip
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert done.returncode == 0, b"".join(chunks)
    return b"".join(chunks)


def test_a_search_shows_progress_on_a_terminal_only(tmp_path):
    rng = np.random.default_rng(SEED)
    corpus = rng.standard_normal((3000, 32)).astype(np.float32)
    np.save(tmp_path / "corpus.npy", corpus)
    np.save(tmp_path / "queries.npy", corpus[:2000] + 0.01)
    args = [str(tmp_path / "corpus.npy"), "--queries", str(tmp_path / "queries.npy"), "-k", "2"]
    shown = _stderr_of([*args, "-o", str(tmp_path / "a.jsonl")], tty=True)
    assert b"searching" in shown and b"4,000 hits by cosine similarity" in shown
    piped = _stderr_of([*args, "-o", str(tmp_path / "b.jsonl")], tty=False)
    assert b"searching" not in piped and b"4,000 hits by cosine similarity" in piped
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert [h["id"] for h in jsonl((tmp_path / "a.jsonl").read_text())][::2] == [
        str(i) for i in range(1, 2001)
    ]  # NPY ids: row numbers from 1
