"""`embed --engine ray`: vectors equal the local engine's, the shard layout, resume, a quiet stdout, S3 via moto."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import SHARED_DATA, free_port

from embedcli.backends.base import BackendOptions
from embedcli.embed.pipeline import EmbedSettings
from embedcli.embed.ray_engine import RayOptions
from embedcli.embed.run import EmbedJob, EmbedRequest
from embedcli.formats import OutputFormat
from embedcli.formats.shard_folder import MANIFEST, read_shard_table
from embedcli.formats.text_inputs import FieldSpec
from embedcli.formats.vector_files import read_vector_table
from embedcli.precision import Precision, quantize

pytest.importorskip("ray")
# Every test here runs Ray actors that import torch and load a model: tens of seconds on 2 cores.
pytestmark = pytest.mark.slow

STSB = SHARED_DATA / "stsbenchmark" / "sts-train.csv"
ROWS = 300
BATCH = 8  # window = 8 * 16 = 128 rows: shards of 128 rows cut the stream where the local engine does
SHARD_ROWS = 128
WORKERS = 2


@pytest.fixture(scope="session")
def ray_cluster(moto_endpoint: str):
    """One local Ray cluster for the session: 3 CPU slots (2 actors + 1 for the driver's reading)."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        # "local": always a new cluster of our own, never one a `ray start` (this suite's or another) left on record
        address="local",
        num_cpus=WORKERS + 1,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STS-B sentences as a Parquet table with id and text columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with STSB.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) >= 6][:ROWS]
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    pq.write_table(pa.table({"id": [f"s{i}" for i in range(len(rows))], "text": [r[5] for r in rows]}), path)
    return path


def _request(
    inputs: list[str],
    target: str,
    model: Path,
    ray: RayOptions | None,
    fmt=OutputFormat.parquet,
    precision: Precision = Precision.float32,
):
    return EmbedRequest(
        inputs=inputs,
        target=target,
        output_format=fmt,
        fields=FieldSpec(id_column="id", id_field="id"),
        model=str(model),
        backend_options=BackendOptions(batch_size=BATCH),
        settings=EmbedSettings(batch_size=BATCH, precision=precision),
        ray=ray,
    )


@pytest.fixture(scope="module")
def local_vectors(corpus: Path, tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("local") / "v.parquet"
    EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, None)).run()
    return read_vector_table(str(out))


def _ray(**kw) -> RayOptions:
    return RayOptions(workers=WORKERS, shard_rows=SHARD_ROWS, **kw)


def test_ray_vectors_equal_the_local_engines_and_the_folder_is_laid_out(
    ray_cluster, corpus, tiny_st_dir, local_vectors, tmp_path
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "vectors"
    outcome = EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run()
    table = read_shard_table(str(out))
    assert table.ids == local_vectors.ids and table.texts == local_vectors.texts
    np.testing.assert_allclose(table.vectors, local_vectors.vectors, rtol=0, atol=1e-6)

    manifest = orjson.loads((out / MANIFEST).read_bytes())
    expected_rows = [SHARD_ROWS, SHARD_ROWS, ROWS - 2 * SHARD_ROWS]
    assert [s["name"] for s in manifest["shards"]] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [s["rows"] for s in manifest["shards"]] == expected_rows and manifest["rows"] == ROWS
    assert manifest["inputs"][0]["path"] == str(corpus) and manifest["inputs"][0]["size"] == corpus.stat().st_size
    assert manifest["provenance"]["dimension"] == local_vectors.vectors.shape[1]
    for shard in manifest["shards"]:
        schema = pq.read_schema(out / shard["name"])
        assert pa.types.is_fixed_size_list(schema.field("embedding").type)
        assert orjson.loads(schema.metadata[b"embedcli"])["model"] == manifest["provenance"]["model"]
        assert (out / "_done" / shard["name"].replace(".parquet", ".json")).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(s["name"] for s in manifest["shards"]), "_done", MANIFEST]
    )
    assert outcome.shards is not None and (outcome.shards.computed, outcome.shards.skipped) == (3, 0)


def test_a_shard_folder_is_a_corpus_for_similar_and_info(ray_cluster, corpus, tiny_st_dir, tmp_path):
    from embedcli.formats.vector_batches import VectorBatches
    from embedcli.inspect.info import describe_file
    from embedcli.search.corpus import load_corpus

    out = tmp_path / "vectors"
    EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run()
    info = describe_file(str(out))
    assert (info.rows, info.format, info.has_text) == (ROWS, "parquet", True)
    loaded = load_corpus(str(out))
    whole = read_shard_table(str(out))
    assert loaded.ids == whole.ids
    with VectorBatches(str(out)) as batches:
        assert batches.num_rows == ROWS
        streamed = np.concatenate([b.vectors for b in batches.batches(100)])
    np.testing.assert_array_equal(streamed, whole.vectors)


def test_into_a_store_through_ray_skips_unchanged_rows(ray_cluster, tmp_path, tiny_st_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(orjson.dumps({"id": f"d{i}", "text": f"text number {i}"}).decode() + "\n" for i in range(40))
    )
    store = str(tmp_path / "kb.lance")
    first = EmbedJob(_request([str(docs)], store, tiny_st_dir, _ray(), OutputFormat.lance)).run()
    assert first.store is not None and first.store.summary.new == 40
    local = tmp_path / "local.parquet"
    EmbedJob(_request([str(docs)], str(local), tiny_st_dir, None)).run()
    stored = read_vector_table(store)
    order = np.argsort(stored.ids)
    expected = read_vector_table(str(local))
    np.testing.assert_allclose(np.asarray(stored.vectors)[order], expected.vectors[np.argsort(expected.ids)], atol=1e-6)
    second = EmbedJob(_request([str(docs)], store, tiny_st_dir, _ray(), OutputFormat.lance)).run()
    assert second.store is not None and (second.store.summary.unchanged, second.store.summary.embedded) == (40, 0)


def test_int8_through_ray_is_quantized_under_one_calibration_equal_to_the_local_engines(
    ray_cluster, corpus, tiny_st_dir, tmp_path
):
    import pyarrow.parquet as pq

    local_out = tmp_path / "local.parquet"
    EmbedJob(_request([str(corpus)], str(local_out), tiny_st_dir, None, precision=Precision.int8)).run()
    local = read_vector_table(str(local_out))
    out = tmp_path / "vectors"
    EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray(), precision=Precision.int8)).run()
    table = read_shard_table(str(out))
    assert table.vectors.dtype == np.int8 and table.ids == local.ids
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    ranges = np.asarray(manifest["provenance"]["quantization_ranges"], np.float32)
    # Measured once, on the run's first window, as the local engine measures it: not per shard, not per actor.
    np.testing.assert_allclose(ranges, local.provenance.quantization_ranges, rtol=0, atol=1e-6)
    for shard in manifest["shards"]:
        recorded = orjson.loads(pq.read_schema(out / shard["name"]).metadata[b"embedcli"])["quantization_ranges"]
        np.testing.assert_array_equal(np.asarray(recorded, np.float32), ranges)
    codes = np.abs(table.vectors.astype(np.int16) - local.vectors.astype(np.int16))
    assert codes.max() <= 1 and (codes == 0).mean() > 0.999  # floats equal to 1e-6: a code moves only at an edge
    again = EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray(), precision=Precision.int8)).run()
    assert again.shards is not None and (again.shards.skipped, again.shards.computed) == (3, 0)


def test_int8_into_a_store_through_ray_keeps_one_calibration(ray_cluster, tmp_path, tiny_st_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(orjson.dumps({"id": f"d{i}", "text": f"sentence {i} about {i % 7}"}).decode() + "\n" for i in range(60))
    )
    store = str(tmp_path / "kb.lance")
    first = EmbedJob(_request([str(docs)], store, tiny_st_dir, _ray(), OutputFormat.lance, Precision.int8)).run()
    assert first.store is not None and first.store.summary.new == 60
    stored = read_vector_table(store)
    ranges = np.asarray(stored.provenance.quantization_ranges, np.float32)
    assert stored.vectors.dtype == np.int8 and ranges.shape == (2, stored.vectors.shape[1])
    floats = tmp_path / "floats.parquet"
    EmbedJob(_request([str(docs)], str(floats), tiny_st_dir, None)).run()
    expected = read_vector_table(str(floats))
    by_id = dict(zip(expected.ids, expected.vectors, strict=True))
    # Every row, whichever actor embedded it, holds the codes of its float vector under the store's one calibration.
    oracle = quantize(np.stack([by_id[i] for i in stored.ids]), Precision.int8, ranges)
    codes = np.abs(np.asarray(stored.vectors).astype(np.int16) - oracle.astype(np.int16))
    assert codes.max() <= 1 and (codes == 0).mean() > 0.99  # floats equal to 1e-6: a code moves only at an edge
    second = EmbedJob(_request([str(docs)], store, tiny_st_dir, _ray(), OutputFormat.lance, Precision.int8)).run()
    assert second.store is not None and (second.store.summary.unchanged, second.store.summary.embedded) == (60, 0)


def test_ray_data_reads_the_shard_folder_and_the_store(ray_cluster, corpus, tiny_st_dir, local_vectors, tmp_path):
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    out = tmp_path / "vectors"
    EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run()
    rows = ray.data.read_parquet(str(out)).take_all()  # the markers and the manifest are not Parquet: left out
    assert sorted(r["id"] for r in rows) == sorted(local_vectors.ids)
    got = {r["id"]: np.asarray(r["embedding"]) for r in rows}
    np.testing.assert_allclose(np.stack([got[i] for i in local_vectors.ids]), local_vectors.vectors, atol=1e-6)

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(orjson.dumps({"id": f"d{i}", "text": f"text {i}"}).decode() + "\n" for i in range(20)))
    store = str(tmp_path / "kb.lance")
    EmbedJob(_request([str(docs)], store, tiny_st_dir, _ray(), OutputFormat.lance)).run()
    stored = ray.data.read_lance(store).take_all()
    assert sorted(r["id"] for r in stored) == sorted(f"d{i}" for i in range(20))
    assert {len(r["embedding"]) for r in stored} == {local_vectors.vectors.shape[1]}


def test_s3_round_trip_through_a_real_s3_api(ray_cluster, moto_endpoint, corpus, tiny_st_dir, local_vectors):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir("bucket")
    fs.put_file(str(corpus), "bucket/corpus/corpus.parquet")
    outcome = EmbedJob(_request(["s3://bucket/corpus/"], "s3://bucket/vectors/", tiny_st_dir, _ray())).run()
    assert outcome.shards is not None and outcome.shards.computed == 3
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls("bucket/vectors/", refresh=True))
    assert names == ["_done", MANIFEST, "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(fs.open(f"bucket/vectors/part-0000{i}.parquet")) for i in range(3)])
    assert table.column("id").to_pylist() == local_vectors.ids
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(vectors, local_vectors.vectors, rtol=0, atol=1e-6)
    again = EmbedJob(_request(["s3://bucket/corpus/"], "s3://bucket/vectors/", tiny_st_dir, _ray())).run()
    assert again.shards is not None and (again.shards.skipped, again.shards.computed) == (3, 0)


def test_an_interrupted_run_resumes_with_the_missing_shards_only(
    ray_cluster, corpus, tiny_st_dir, local_vectors, tmp_path
):
    out = tmp_path / "vectors"

    def stop_after_first_shard(bytes_read: int, rows: int) -> None:
        if rows >= SHARD_ROWS:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run(stop_after_first_shard)
    # The interrupted run has returned only once its actors' shards in flight settled: the folder is at rest.
    done_before = len(list((out / "_done").glob("*.json")))
    assert 1 <= done_before < 3
    assert not (out / MANIFEST).exists()

    outcome = EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run()
    assert outcome.shards is not None
    assert (outcome.shards.skipped, outcome.shards.computed) == (done_before, 3 - done_before)
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]  # a killed actor's partial part is swept
    table = read_shard_table(str(out))
    assert table.ids == local_vectors.ids
    np.testing.assert_allclose(table.vectors, local_vectors.vectors, rtol=0, atol=1e-6)

    again = EmbedJob(_request([str(corpus)], str(out), tiny_st_dir, _ray())).run()
    assert again.shards is not None and (again.shards.skipped, again.shards.computed) == (3, 0)


def test_the_cli_with_its_own_cluster_writes_nothing_on_stdout(corpus, tiny_st_dir, tmp_path):
    out = tmp_path / "vectors"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("RAY_ADDRESS", None)
    args = [str(corpus), "--text-column", "text", "--id-column", "id", "-o", str(out), "--engine", "ray"]
    args += ["--model", str(tiny_st_dir), "--workers", "1", "--shard-rows", "100", "--batch-size", str(BATCH)]
    proc = subprocess.run([sys.executable, "-m", "embedcli", "embed", *args], capture_output=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert b"INFO" not in proc.stderr and b"WARNING" not in proc.stderr, proc.stderr.decode()
    assert orjson.loads((out / MANIFEST).read_bytes())["rows"] == ROWS


def test_the_cli_joins_a_cluster_started_with_ray_start(corpus, tiny_st_dir, tmp_path):
    import signal
    import time

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("RAY_ADDRESS", None)
    env["RAY_AUTH_MODE"] = "token"  # `ray start` enables token auth; a client joining it says so (Ray's docs)
    head = [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2"]
    head += ["--include-dashboard=false", "--disable-usage-stats", "--block"]
    # Its own process group, so ending it ends only the processes this test started (never `ray stop`).
    server = subprocess.Popen(
        head, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        out = tmp_path / "vectors"
        args = [str(corpus), "--text-column", "text", "--id-column", "id", "-o", str(out), "--engine", "ray"]
        args += ["--model", str(tiny_st_dir), "--workers", "1", "--shard-rows", "128", "--batch-size", str(BATCH)]
        args += ["--ray-address", f"127.0.0.1:{port}"]
        proc = subprocess.run(
            [sys.executable, "-m", "embedcli", "embed", *args], capture_output=True, env=env, timeout=240
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout == b""
        assert orjson.loads((out / MANIFEST).read_bytes())["rows"] == ROWS
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
