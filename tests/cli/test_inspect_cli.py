"""`embedcli inspect` end to end: vector files, word vectors and pipes in; a report, JSON or a PNG out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from embedcli.formats import OutputFormat
from embedcli.formats.outputs import open_vector_writer
from embedcli.inspect import inspect_vectors
from embedcli.metrics import Metric
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch


@pytest.fixture(scope="module")
def two_topics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 unit vectors in two planted clusters, texts naming their topic; written as Parquet."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(2, 32)).astype(np.float32) * 3
    labels = np.repeat([0, 1], 300)
    vectors = centres[labels] + rng.normal(size=(600, 32)).astype(np.float32)
    texts = [("cats purr" if t == 0 else "stocks fall") + f" {i}" for i, t in enumerate(labels)]
    path = tmp_path_factory.mktemp("inspect") / "v.parquet"
    with open_vector_writer(str(path), OutputFormat.parquet, Provenance(model="planted")) as writer:
        writer.write(EmbeddedBatch([str(i) for i in range(600)], texts, vectors))
    return path


def test_report_names_each_limit_and_the_axis_ends(two_topics: Path) -> None:
    done = run_cli("inspect", str(two_topics), "--sample", "400", check=True)
    report = done.stdout.decode()
    assert report.startswith("v.parquet: 600 vectors of 32 dimensions, cosine")
    for topic in ("concentration:", "hubness:", "intrinsic_dimension:", "anisotropy:", "cost:"):
        assert topic in report
    axis = report.split("axis 1", 1)[1].splitlines()
    ends = {line[:3]: line for line in axis[1:3]}
    # the first principal axis separates the two planted topics: one at each end
    assert ("cats purr" in ends["  +"]) != ("cats purr" in ends["  -"])


def test_json_holds_the_same_figures_as_the_library(two_topics: Path, tmp_path: Path) -> None:
    from embedcli.formats.vector_files import read_vector_table
    from embedcli.inspect import to_json
    from embedcli.search import knn_graph

    done = run_cli("inspect", str(two_topics), "--json", "--sample", "400", "--seed", "3", check=True)
    figures = json.loads(done.stdout)
    table = read_vector_table(str(two_topics))
    direct = inspect_vectors(
        np.asarray(table.vectors),
        ids=table.ids,
        texts=table.texts,
        metric=Metric.cosine,
        sample=400,
        seed=3,
        knn=knn_graph,
    )
    assert figures == json.loads(json.dumps(to_json(direct)))
    assert figures["hubness"]["k"] == 10 and figures["rows"] == 600


def test_a_pipe_and_a_plot(two_topics: Path, tmp_path: Path) -> None:
    stream = run_cli("reduce", str(two_topics), "--method", "matryoshka", "--dim", "32", "-f", "arrows", check=True)
    done = run_cli("inspect", "-", "--plot", str(tmp_path / "r.png"), "--sample", "300", input=stream.stdout)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"stdin: 600 vectors")
    from PIL import Image

    with Image.open(tmp_path / "r.png") as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # drawn, not blank
    assert not [p for p in tmp_path.iterdir() if p.name != "r.png"]


def test_word_vectors_show_words_at_the_axis_ends(word2vec_bin: Path, word2vec_model) -> None:
    done = run_cli("inspect", str(word2vec_bin), "--axes", "2", "--sample", "200", check=True)
    report = done.stdout.decode()
    vocabulary = set(word2vec_model.wv.index_to_key)
    ends = [line for line in report.splitlines() if line.startswith(("  +", "  -"))]
    assert len(ends) == 4
    assert all(word.strip() in vocabulary for line in ends for word in line[4:].split(" | "))


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    done = run_cli("inspect", str(tmp_path / "missing.parquet"))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    (tmp_path / "few.npy").write_bytes(b"")
    np.save(tmp_path / "few.npy", np.ones((3, 4), np.float32))
    done = run_cli("inspect", str(tmp_path / "few.npy"))
    assert done.returncode == 1 and b"at least 4 distinct" in done.stderr
