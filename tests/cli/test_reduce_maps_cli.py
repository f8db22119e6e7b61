"""`embedcli reduce --plot/--clusters` end to end, in fresh interpreters: maps in every format, clusters named by
their topic words, cluster columns in the output, colouring by a kept column, a map into a real pipe.

The corpus is planted: three topics, each a tight blob of vectors around its own direction with texts drawn from
its own words, written as an embedcli Parquet file with pyarrow (plus a `genre` column, as `embed` would keep one).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli

from embedcli.formats.outputs import METADATA_KEY

TOPICS = {
    "cooking": ["recipe", "oven", "flour", "butter", "sauce"],
    "astronomy": ["galaxy", "telescope", "orbit", "planet", "comet"],
    "football": ["goal", "referee", "striker", "penalty", "stadium"],
}
PER_TOPIC = 60
WIDTH = 24
MODEL = "tiny-planted-model"


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple:
    """(path, topic of each row): three topics of PER_TOPIC rows, vectors in three separated blobs."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(len(TOPICS), WIDTH)) * 4
    ids, texts, vectors, genres = [], [], [], []
    for t, (topic, words) in enumerate(TOPICS.items()):
        for i in range(PER_TOPIC):
            picked = rng.choice(words, 4, replace=True)
            texts.append(f"the {' '.join(picked)} and more on item {i}")
            ids.append(f"{topic}-{i}")
            vectors.append(centres[t] + rng.normal(scale=0.3, size=WIDTH))
            genres.append(topic)
    matrix = np.asarray(vectors, dtype=np.float32)
    provenance = {"backend": "sentence-transformers", "model": MODEL, "dimension": WIDTH, "precision": "float32"}
    schema = pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("text", pa.string()),
            pa.field("embedding", pa.list_(pa.float32(), WIDTH)),
            pa.field("genre", pa.string()),
        ],
        metadata={METADATA_KEY: orjson.dumps(provenance)},
    )
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), WIDTH)
    table = pa.Table.from_arrays([pa.array(ids), pa.array(texts), embedding, pa.array(genres)], schema=schema)
    path = tmp_path_factory.mktemp("maps") / "planted.parquet"
    pq.write_table(table, path)
    return path, genres


def png_picture(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG that is not blank: many colours and some ink on the page."""
    import matplotlib.image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
    flat = pixels.reshape(-1, pixels.shape[-1])
    assert len(np.unique(flat, axis=0)) > 20
    assert (flat[:, :3].mean(axis=1) < 0.9).mean() > 0.005
    return pixels.shape[1], pixels.shape[0]


def test_png_map_has_three_clusters_named_by_their_topic_words(planted, tmp_path):
    path, _ = planted
    image = tmp_path / "map.png"
    done = run_cli("reduce", str(path), "--plot", str(image), "--size", "6", "--dpi", "80", check=True)
    assert png_picture(image.read_bytes()) == (480, 480)
    reported = re.search(r"map: 3 clusters \((.*)\)", done.stderr.decode())
    assert reported, done.stderr.decode()
    names = reported.group(1).split(", ")
    for words in TOPICS.values():
        assert sum(any(w in name.split() for w in words) for name in names) == 1, names
    assert not [p for p in tmp_path.iterdir() if p.name != "map.png"]  # no temporary file left


def test_clusters_become_columns_of_the_output(planted, tmp_path):
    path, topics = planted
    out = tmp_path / "map.parquet"
    run_cli("reduce", str(path), "--clusters", "3", "-o", str(out), check=True)
    table = pq.read_table(out)
    # The input's own columns go on (its genre), then the clusters.
    assert table.column_names == ["id", "text", "embedding", "genre", "cluster", "cluster_name"]
    assert table.column("genre").to_pylist() == pq.read_table(path).column("genre").to_pylist()
    clusters = table.column("cluster").to_pylist()
    names = table.column("cluster_name").to_pylist()
    assert sorted(set(clusters)) == [0, 1, 2] and None not in names
    # Each planted topic is exactly one cluster, and the cluster's name holds that topic's words.
    for topic, words in TOPICS.items():
        mine = {(c, n) for c, n, t in zip(clusters, names, topics, strict=True) if t == topic}
        assert len(mine) == 1
        assert any(w in next(iter(mine))[1].split() for w in words)
    assert orjson.loads(table.schema.metadata[METADATA_KEY])["model"] == MODEL


def test_clusters_in_jsonl_and_refused_in_npy(planted, tmp_path):
    path, _ = planted
    done = run_cli("reduce", str(path), "--clusters", "2", "--format", "jsonl", check=True)
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 3 * PER_TOPIC and {r["cluster"] for r in rows} == {0, 1}
    assert all(isinstance(r["cluster_name"], str) for r in rows)
    refused = run_cli("reduce", str(path), "--clusters", "2", "-o", str(tmp_path / "x.npy"))
    assert refused.returncode == 2 and b"no room for the cluster columns" in refused.stderr
    both = run_cli("reduce", str(path), "--clusters", "2", "--no-clusters", "-o", str(tmp_path / "x.parquet"))
    assert both.returncode == 2 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", ["svg", "pdf"])
def test_vector_maps_coloured_by_a_kept_column(planted, tmp_path, suffix):
    path, _ = planted
    drawn = tmp_path / f"map.{suffix}"
    run_cli("reduce", str(path), "--plot", str(drawn), "--color-by", "genre", "--theme", "dark", check=True)
    data = drawn.read_bytes()
    if suffix == "svg":
        text = data.decode()
        assert text.lstrip().startswith("<?xml") and text.rstrip().endswith("</svg>")
        for topic in TOPICS:  # the legend names the column's values
            assert f">{topic}<" in text or topic in text
        assert "planted.parquet" in text and MODEL in text
        assert str(tmp_path) not in text  # the title names the file, not its directory
        assert len(re.findall(r"<path|<use", text)) > 3 * PER_TOPIC // 2  # the points are there
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert len(data) > 5_000


def test_html_page_is_self_contained_with_hover_texts_and_search(planted, tmp_path):
    path, _ = planted
    page = tmp_path / "map.html"
    run_cli("reduce", str(path), "--plot", str(page), "--title", "Planted topics", check=True)
    text = page.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html") and text.rstrip().endswith("</html>")
    assert "<title>Planted topics</title>" in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch when opened
    assert '<input id="search" type="search"' in text
    data = orjson.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    assert len(data["texts"]) == 3 * PER_TOPIC and "the " in data["texts"][0]
    assert data["named"] and len(data["names"]) == 3


def test_plot_format_sends_html_to_stdout(planted):
    path, _ = planted
    done = run_cli("reduce", str(path), "--plot", "-", "--plot-format", "html", check=True)
    assert done.stdout.lstrip().lower().startswith(b"<!doctype html") and b"galaxy" in done.stdout


def test_title_names_the_base_name_and_model(planted, tmp_path):
    path, _ = planted
    drawn = tmp_path / "map.svg"
    run_cli("reduce", str(path), "--plot", str(drawn), "--no-clusters", check=True)
    text = drawn.read_text()
    assert f"planted.parquet · {MODEL} · {3 * PER_TOPIC} points" in text
    assert str(path.parent) not in text


@pytest.mark.slow
def test_umap_examples_png_and_html(planted, tmp_path):
    path, _ = planted
    args = ["--method", "umap", "--neighbors", "10", "--seed", "1"]
    run_cli("reduce", str(path), *args, "--plot", str(tmp_path / "map.png"), check=True)
    assert png_picture((tmp_path / "map.png").read_bytes()) == (800, 800)
    run_cli("reduce", str(path), *args, "--plot", str(tmp_path / "map.html"), check=True)
    assert b"embedcliMap" in (tmp_path / "map.html").read_bytes()
    out = tmp_path / "map.parquet"
    run_cli("reduce", str(path), *args, "--clusters", "3", "-o", str(out), check=True)
    assert len(set(pq.read_table(out).column("cluster").to_pylist())) == 3


@pytest.mark.slow
def test_embed_pipe_into_a_umap_map_on_stdout(tiny_st_dir, tmp_path):
    lines = [f"the {w} {v} story number {i}" for i in range(20) for w, v in (("oven", "flour"), ("comet", "orbit"))]
    (tmp_path / "docs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = f"{sys.executable} -m embedcli"
    command = (
        f"cat docs.txt | {python} embed --model {tiny_st_dir} | "
        f"{python} reduce - --method umap --neighbors 5 --plot - > map.png"
    )
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert png_picture((tmp_path / "map.png").read_bytes()) == (800, 800)
