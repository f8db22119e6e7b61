"""Vector files on an object store (s3:// through moto's real S3 server) read by similar, info, inspect and reduce:
the same answers as the local file, through a local copy that leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    import s3fs

    local = tmp_path_factory.mktemp("remote-vectors")
    rng = np.random.default_rng(3)
    for name in ("a.npy", "b.npy"):
        np.save(local / name, rng.standard_normal((40, 8)).astype(np.float32))
    fs = s3fs.S3FileSystem()
    fs.mkdir("vectors")
    for name in ("a.npy", "b.npy"):
        fs.put_file(str(local / name), f"vectors/set/{name}")
    return "s3://vectors/set", local


def _no_spool(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_similar_reads_a_remote_corpus_and_remote_queries_as_the_local_files(bucket, tmp_path: Path) -> None:
    url, local = bucket
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = {"TMPDIR": str(spool)}
    remote = run_cli("similar", f"{url}/a.npy", "--queries", f"{url}/b.npy", "-k", "3", "-f", "jsonl", env=env)
    here = run_cli("similar", str(local / "a.npy"), "--queries", str(local / "b.npy"), "-k", "3", "-f", "jsonl")
    assert remote.returncode == 0, remote.stderr.decode()
    assert remote.stdout == here.stdout and len(remote.stdout.splitlines()) == 120
    _no_spool(spool)


def test_a_remote_folder_is_several_corpora_named_by_their_urls(bucket) -> None:
    url, local = bucket
    proc = run_cli("similar", "--corpus", f"{url}/", "--queries", str(local / "a.npy"), "-k", "1", "-f", "jsonl")
    assert proc.returncode == 0, proc.stderr.decode()
    hits = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(hits) == 40
    assert all(h["id"] == f"{url}/a.npy:{h['query']}" for h in hits)  # each row of a.npy finds itself in a.npy


def test_info_inspect_and_reduce_read_the_remote_file(bucket, tmp_path: Path) -> None:
    url, local = bucket
    info = run_cli("info", f"{url}/a.npy", "--json")
    assert info.returncode == 0, info.stderr.decode()
    described = json.loads(info.stdout)
    assert (described["rows"], described["dimension"], described["bytes"]) == (40, 8, (local / "a.npy").stat().st_size)
    inspected = run_cli("inspect", f"{url}/a.npy")
    assert inspected.returncode == 0, inspected.stderr.decode()
    assert run_cli("reduce", f"{url}/a.npy", "--dim", "2", "-o", str(tmp_path / "r.npy")).returncode == 0
    assert run_cli("reduce", str(local / "a.npy"), "--dim", "2", "-o", str(tmp_path / "l.npy")).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), np.load(tmp_path / "l.npy"))


def test_a_missing_remote_file_is_one_line(bucket) -> None:
    url, _ = bucket
    proc = run_cli("info", f"{url}/missing.npy")
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == f"error: no such input: {url}/missing.npy"
