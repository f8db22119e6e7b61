"""Writers: every output format round-trips through the readers; outputs are atomic; NPY headers are valid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from embedcli.formats import OutputFormat
from embedcli.formats.outputs import WRITERS, npy_header, open_vector_writer
from embedcli.formats.vector_files import read_vector_table
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch

META = Provenance(backend="test", model="m", dimension=3)


def write(path, fmt, batches, keep_text=True):
    with open_vector_writer(str(path), fmt, META, keep_text) as writer:
        for batch in batches:
            writer.write(batch)


def batches_of(vectors: np.ndarray, texts: list[str], size: int) -> list[EmbeddedBatch]:
    return [
        EmbeddedBatch(
            [f"id{i}" for i in range(s, min(s + size, len(vectors)))], texts[s : s + size], vectors[s : s + size]
        )
        for s in range(0, len(vectors), size)
    ]


@pytest.mark.parametrize("fmt", list(WRITERS))  # every file format a writer makes (a store is not a file)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "uint8"])
def test_round_trip_every_format(tmp_path, fmt, dtype):
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((50, 7)) * 20).astype(dtype)
    texts = [f"text {i} ünïcode" for i in range(50)]
    path = tmp_path / f"out.{fmt.value}"
    write(path, fmt, batches_of(vectors, texts, 16))
    table = read_vector_table(str(path))
    if fmt is OutputFormat.jsonl:
        np.testing.assert_allclose(table.vectors, vectors.astype(np.float32), rtol=1e-6)
    else:
        assert table.vectors.dtype == vectors.dtype
        np.testing.assert_array_equal(table.vectors, vectors)
    if fmt is not OutputFormat.npy:
        assert table.ids == [f"id{i}" for i in range(50)]
        assert table.texts == texts
    if fmt in (OutputFormat.parquet, OutputFormat.arrow, OutputFormat.arrows):
        assert table.provenance == META


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 9)), elements=st.floats(-1e6, 1e6, width=32)),
    st.integers(1, 17),
    st.sampled_from(list(WRITERS)),
)
def test_property_round_trip(tmp_path_factory, vectors, batch_size, fmt):
    path = tmp_path_factory.mktemp("w") / f"v.{fmt.value}"
    write(path, fmt, batches_of(vectors, [str(i) for i in range(len(vectors))], batch_size), keep_text=False)
    table = read_vector_table(str(path))
    np.testing.assert_array_equal(table.vectors, vectors)
    assert table.texts is None


def test_npy_header_is_what_numpy_reads(tmp_path):
    header = npy_header(np.dtype(np.float32), (123_456_789, 384), 128)
    assert len(header) == 128
    path = tmp_path / "h.npy"
    path.write_bytes(npy_header(np.dtype(np.int8), (2, 3), 128) + bytes(range(6)))
    np.testing.assert_array_equal(np.load(path), np.arange(6, dtype=np.int8).reshape(2, 3))


@pytest.mark.parametrize("fmt", list(WRITERS))  # every file format a writer makes (a store is not a file)
def test_failure_leaves_nothing_and_keeps_the_old_file(tmp_path, fmt):
    path = tmp_path / f"out.{fmt.value}"
    path.write_bytes(b"old content")
    vectors = np.ones((4, 3), np.float32)
    with pytest.raises(RuntimeError), open_vector_writer(str(path), fmt, META) as writer:
        writer.write(batches_of(vectors, ["a"] * 4, 4)[0])
        raise RuntimeError("boom")
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_atomic_target_commits_on_success_and_leaves_nothing_on_failure(tmp_path):
    from embedcli.formats.outputs import AtomicTarget, write_atomically

    path = tmp_path / "out.bin"
    write_atomically(b"new", str(path), ".bin")
    assert path.read_bytes() == b"new"
    with pytest.raises(KeyboardInterrupt), AtomicTarget(str(path), ".bin") as atomic:
        (tmp_path / atomic.path).write_bytes(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
