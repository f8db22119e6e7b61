"""The local engine on remote paths: s3:// inputs and outputs through a real S3 API (moto's server on 127.0.0.1).

Oracle: the same files embedded from local copies by the local engine; outputs appear whole (one PUT) or not at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import run_cli

from embedcli.backends.base import BackendOptions
from embedcli.embed.pipeline import EmbedSettings
from embedcli.embed.run import EmbedJob, EmbedRequest
from embedcli.errors import EmbedcliError, InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.vector_files import read_vector_table

s3fs = pytest.importorskip("s3fs")

BATCH = 4  # window = 64 rows: a bad line after row 64 fails the run after its first batch was written
LINES_A = [f"The {n}th sentence of the first file is about cats." for n in range(50)]
LINES_B = [f"Sentence number {n} of the second file talks about dogs." for n in range(30)]


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A bucket holding corpus/a.txt and corpus/b.txt, and the same two files in a local folder."""
    local = tmp_path_factory.mktemp("corpus")
    (local / "a.txt").write_text("\n".join(LINES_A) + "\n", encoding="utf-8")
    (local / "b.txt").write_text("\n".join(LINES_B) + "\n", encoding="utf-8")
    fs = s3fs.S3FileSystem()
    fs.mkdir("remote-bucket")
    for name in ("a.txt", "b.txt"):
        fs.put_file(str(local / name), f"remote-bucket/corpus/{name}")
    return "s3://remote-bucket", local


def _request(inputs: list[str], target: str, model: Path, fmt: OutputFormat = OutputFormat.parquet) -> EmbedRequest:
    return EmbedRequest(
        inputs=inputs,
        target=target,
        output_format=fmt,
        model=str(model),
        backend="sentence-transformers",
        backend_options=BackendOptions(batch_size=BATCH),
        settings=EmbedSettings(batch_size=BATCH),
    )


def _download(url: str, tmp_path: Path) -> Path:
    local = tmp_path / url.rsplit("/", 1)[1]
    s3fs.S3FileSystem().get_file(url.removeprefix("s3://"), str(local))
    return local


def _objects(prefix: str) -> list[str]:
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    return sorted(fs.find(prefix.removeprefix("s3://")))


@pytest.mark.slow
def test_the_cli_embeds_a_remote_folder_into_a_remote_file(bucket, tiny_st_dir, tmp_path):
    url, local = bucket
    proc = run_cli(
        "embed",
        f"{url}/corpus/",
        "-o",
        f"{url}/vectors.parquet",
        *("--model", str(tiny_st_dir), "--backend", "sentence-transformers", "--batch-size", str(BATCH)),
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    got = read_vector_table(str(_download(f"{url}/vectors.parquet", tmp_path)))

    oracle = tmp_path / "local.parquet"
    EmbedJob(_request([str(local / "a.txt"), str(local / "b.txt")], str(oracle), tiny_st_dir)).run()
    expected = read_vector_table(str(oracle))
    # Each input keeps its URL in the ids, as a local file keeps its path.
    assert got.ids == [i.replace(f"{local}/", f"{url}/corpus/") for i in expected.ids]
    assert got.ids[0] == f"{url}/corpus/a.txt:1" and len(got.ids) == len(LINES_A) + len(LINES_B)
    assert got.texts == expected.texts == LINES_A + LINES_B
    np.testing.assert_allclose(got.vectors, expected.vectors, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fmt", [OutputFormat.parquet, OutputFormat.npy, OutputFormat.jsonl, OutputFormat.arrow])
def test_one_remote_file_into_every_format_equals_the_local_run(bucket, tiny_st_dir, tmp_path, fmt):
    url, local = bucket
    target = f"{url}/out/one.{fmt.value}"
    outcome = EmbedJob(_request([f"{url}/corpus/b.txt"], target, tiny_st_dir, fmt)).run()
    assert outcome.report.count == len(LINES_B)
    oracle = tmp_path / f"local.{fmt.value}"
    EmbedJob(_request([str(local / "b.txt")], str(oracle), tiny_st_dir, fmt)).run()
    got, expected = read_vector_table(str(_download(target, tmp_path))), read_vector_table(str(oracle))
    assert got.ids == expected.ids == [str(n) for n in range(1, len(LINES_B) + 1)]  # one input: line numbers
    np.testing.assert_allclose(got.vectors, expected.vectors, rtol=0, atol=1e-6)


@pytest.mark.parametrize("failure", ["bad line", "interrupt"])
def test_a_run_that_fails_after_writing_leaves_the_remote_target_as_it_was(bucket, tiny_st_dir, tmp_path, failure):
    url, _ = bucket
    fs = s3fs.S3FileSystem()
    folder = f"{url}/kept-{failure.replace(' ', '-')}"
    target = f"{folder}/vectors.parquet"
    fs.pipe_file(target.removeprefix("s3://"), b"the previous content")
    lines = [orjson.dumps({"text": f"row {n}"}).decode() for n in range(100)]
    if failure == "bad line":
        lines.insert(90, "{this is not json")  # after the first window (64 rows) was written locally
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fs.put_file(str(source), "remote-bucket/kept-input/docs.jsonl")
    job = EmbedJob(_request([f"{url}/kept-input/docs.jsonl"], target, tiny_st_dir))

    def stop_late(bytes_read: int, rows: int) -> None:
        if rows >= 64:
            raise KeyboardInterrupt

    expected_error: type[BaseException] = InputError if failure == "bad line" else KeyboardInterrupt
    with pytest.raises(expected_error):
        job.run(None if failure == "bad line" else stop_late)
    fs.invalidate_cache()
    assert fs.cat_file(target.removeprefix("s3://")) == b"the previous content"
    assert _objects(folder) == [target.removeprefix("s3://")]


def test_a_missing_bucket_is_one_error_naming_the_target(bucket, tiny_st_dir):
    url, _ = bucket
    with pytest.raises(EmbedcliError, match=r"cannot write s3://no-such-bucket-here/v\.parquet"):
        EmbedJob(_request([f"{url}/corpus/b.txt"], "s3://no-such-bucket-here/v.parquet", tiny_st_dir)).run()


def test_a_remote_input_that_matches_nothing_and_a_remote_store_are_refused(bucket, tiny_st_dir, tmp_path):
    url, local = bucket
    with pytest.raises(UsageError, match="no such input"):
        EmbedJob(_request([f"{url}/nothing-here/"], str(tmp_path / "v.parquet"), tiny_st_dir)).run()
    assert not os.path.exists(tmp_path / "v.parquet")
    with pytest.raises(UsageError, match="a store"):
        EmbedJob(_request([str(local / "a.txt")], f"{url}/kb.lance", tiny_st_dir, OutputFormat.lance))
