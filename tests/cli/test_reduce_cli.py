"""`embedcli reduce` end to end, in fresh interpreters: files, real pipes, saved reducers, plots, errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, SHARED_DATA, run_cli

from embedcli.formats.vector_files import read_vector_table

ROWS = 240


@pytest.fixture(scope="module")
def sts(tmp_path_factory) -> tuple[list[str], list[str]]:
    """Real sentences from STS-B dev, and the genre each comes from."""
    with open(SHARED_DATA / "stsbenchmark" / "sts-dev.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    step = len(rows) // ROWS
    picked = rows[::step][:ROWS]
    return [r[5] for r in picked], [r[0] for r in picked]


@pytest.fixture(scope="module")
def vectors(tiny_st_dir, sts, tmp_path_factory) -> Path:
    """The sentences embedded with a tiny sentence-transformers model, plus a `genre` column."""
    folder = tmp_path_factory.mktemp("reduce")
    (folder / "docs.txt").write_text("\n".join(sts[0]) + "\n", encoding="utf-8")
    out = folder / "vectors.parquet"
    run_cli("embed", str(folder / "docs.txt"), "--model", str(tiny_st_dir), "-o", str(out), "-q", check=True)
    table = pq.read_table(out)
    pq.write_table(table.append_column("genre", pa.array(sts[1])), out)
    return out


def reduced(path: Path):
    table = read_vector_table(str(path))
    return table, table.provenance.get("reduction")


def is_png_picture(data: bytes) -> tuple[int, int]:
    """The (width, height) of a PNG that is not blank: several colours, not one flat fill."""
    import io

    import matplotlib.image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
    flat = pixels.reshape(-1, pixels.shape[-1])
    assert len(np.unique(flat, axis=0)) > 20
    assert (flat[:, :3].mean(axis=1) < 0.9).mean() > 0.005  # some ink on the white page
    return pixels.shape[1], pixels.shape[0]


def test_pca_to_file_keeps_ids_text_metadata_and_reports(vectors, tmp_path):
    out = tmp_path / "small.parquet"
    done = run_cli("reduce", str(vectors), "--dim", "8", "-o", str(out), check=True)
    table, provenance = reduced(out)
    source = read_vector_table(str(vectors))
    assert table.ids == source.ids and table.texts == source.texts
    assert table.vectors.shape == (ROWS, 8)
    assert table.provenance.get("model") == source.provenance.get("model")
    assert table.provenance.get("dimension") == 8
    assert provenance["method"] == "pca" and provenance["seed"] == 0 and provenance["input_dimension"] == 32
    assert len(provenance["explained_variance_ratio"]) == 8
    err = done.stderr.decode()
    assert "explained variance: 8 components keep" in err and done.stdout == b""


def test_saved_reducer_reproduces_the_output_and_checks_dimensions(vectors, tmp_path):
    fitted, again = tmp_path / "fit.parquet", tmp_path / "again.arrow"
    reducer = tmp_path / "pca.npz"
    run_cli("reduce", str(vectors), "--dim", "6", "--save-reducer", str(reducer), "-o", str(fitted), check=True)
    run_cli("reduce", str(vectors), "--reducer", str(reducer), "-o", str(again), check=True)
    np.testing.assert_array_equal(reduced(fitted)[0].vectors, reduced(again)[0].vectors)
    assert reduced(again)[1]["saved_reducer"] is True
    wrong = run_cli("reduce", str(fitted), "--reducer", str(reducer), "-o", str(tmp_path / "x.parquet"))
    assert wrong.returncode == 1
    assert b"takes 32-dimensional vectors, but these have 6" in wrong.stderr and b"Traceback" not in wrong.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_embed_pipe_into_reduce_plot_on_stdout(tiny_st_dir, sts, tmp_path):
    (tmp_path / "docs.txt").write_text("\n".join(sts[0][:60]) + "\n", encoding="utf-8")
    python = f"{sys.executable} -m embedcli"
    command = f"cat docs.txt | {python} embed --model {tiny_st_dir} | {python} reduce - --dim 2 --plot - > map.png"
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert is_png_picture((tmp_path / "map.png").read_bytes()) == (800, 800)
    assert b"trustworthiness:" in done.stderr


def test_umap_map_with_plot_coloured_by_a_column_and_a_pickled_reducer(vectors, tmp_path):
    out, image, model = tmp_path / "map.parquet", tmp_path / "map.png", tmp_path / "umap.pkl"
    args = ["--method", "umap", "--dim", "2", "--neighbors", "10", "--metric", "cosine", "--seed", "3"]
    done = run_cli(
        "reduce", str(vectors), *args, "-o", str(out), "--plot", str(image), "--color-by", "genre",
        "--save-reducer", str(model), "--title", "STS map", check=True,
    )  # fmt: skip
    table, provenance = reduced(out)
    assert table.vectors.shape == (ROWS, 2) and np.isfinite(table.vectors).all()
    assert provenance | {"metric": "cosine", "neighbors": 10, "seed": 3} == provenance
    assert is_png_picture(image.read_bytes()) == (800, 800)
    assert b"is a pickle" in done.stderr and b"trustworthiness:" in done.stderr
    refused = run_cli("reduce", str(vectors), "--reducer", str(model), "-o", str(tmp_path / "n.parquet"))
    assert refused.returncode == 2 and b"--trust-pickle" in refused.stderr
    trusted = tmp_path / "trusted.parquet"
    run_cli("reduce", str(vectors), "--reducer", str(model), "--trust-pickle", "-o", str(trusted), check=True)
    assert reduced(trusted)[0].vectors.shape == (ROWS, 2)


def test_matryoshka_and_random_projection_from_the_cli(vectors, tmp_path):
    source = read_vector_table(str(vectors)).vectors
    run_cli("reduce", str(vectors), "--method", "matryoshka", "--dim", "16", "-o", str(tmp_path / "m.npy"), check=True)
    kept = source[:, :16]
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), kept / np.linalg.norm(kept, axis=1, keepdims=True))
    for name in ("a", "b"):
        args = ["--method", "random-projection", "--projection", "sparse", "--dim", "8", "--seed", "4"]
        run_cli("reduce", str(vectors), *args, "-o", str(tmp_path / f"{name}.jsonl"), check=True)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_fit_sample_and_jsonl_to_a_pipe(vectors):
    done = run_cli("reduce", str(vectors), "--dim", "3", "--fit-sample", "50", "--format", "jsonl", check=True)
    lines = done.stdout.decode().splitlines()
    assert len(lines) == ROWS
    assert b"fitted on 50 rows" in done.stderr


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--method", "tsne", "--dim", "2", "--save-reducer", "t.npz"], 2, "t-SNE cannot place new points"),
        (["--method", "tsne", "--fit-sample", "10"], 2, "cannot place rows"),
        (["--dim", "64"], 2, "more than the 32 input dimensions"),
        (["--plot", "map.png", "--color-by", "nope"], 2, "no column 'nope'"),
        (["--plot", "map.jpg"], 2, "cannot tell the plot format of 'map.jpg'"),
        (["--reducer", "missing.npz"], 2, "no such file"),
        (["--method", "svd", "--whiten"], 2, "--whiten applies"),
        (["--plot", "-", "-o", "-"], 2, "not both"),
        (["--reducer", "r.npz", "--fit-sample", "5"], 2, "already fitted"),
    ],
)
def test_usage_errors_are_one_line(vectors, tmp_path, args, status, message):
    done = run_cli("reduce", str(vectors), *args, cwd=tmp_path)
    assert done.returncode == status
    assert message in done.stderr.decode() and b"Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_missing_optional_library_names_the_extra(vectors):
    code = (
        "import sys; sys.modules['umap'] = None; sys.argv = ['embedcli', 'reduce', sys.argv[1], '--method', 'umap'];"
        "from embedcli.cli.app import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", code, str(vectors)], capture_output=True, check=False)
    assert done.returncode == 1
    assert b"needs umap-learn" in done.stderr and b"embedcli[reduce]" in done.stderr


def test_png_to_a_terminal_is_refused(vectors):
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "embedcli", "reduce", str(vectors), "--plot", "-"],
            stdout=follower, stderr=subprocess.PIPE, check=False, cwd=REPO, env={**os.environ},
        )  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and b"terminal" in done.stderr
