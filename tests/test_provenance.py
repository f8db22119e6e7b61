"""The typed provenance record: old files stay readable, unknown keys survive a round trip."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from embedcli.formats import OutputFormat
from embedcli.formats.outputs import open_vector_writer
from embedcli.formats.vector_files import read_vector_table
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch

# What embedcli 0.x wrote before the record was typed (keys by string, one a backend-specific extra).
OLD = {
    "embedcli_version": "0.9.0",
    "backend": "onnx",
    "model": "all-MiniLM-L6-v2",
    "max_length": 256,
    "model_normalizes": True,
    "pooling": "mean",
    "quantize": "none",
    "dimension": 384,
    "normalized": False,
    "precision": "float32",
    "prompt": None,
    "truncate_dim": None,
    "a_key_from_the_future": {"nested": [1, 2]},
}


def test_an_old_mapping_reads_typed_and_writes_back_unchanged() -> None:
    record = Provenance.from_dict(OLD)
    assert record.backend == "onnx" and record.max_length == 256 and record.quantize == "none"
    assert record.normalized is False and record.truncate_dim is None
    assert record.get("model_normalizes") is True
    assert record.to_dict() == OLD


def test_an_empty_record_knows_nothing() -> None:
    record = Provenance.from_dict(None)
    assert record.is_empty and record.model is None and record.normalized is None


def test_unknown_keys_survive_a_file_round_trip(tmp_path) -> None:
    import orjson

    path = tmp_path / "old.parquet"
    values = pa.array([0.5, 1.5], type=pa.float32())
    table = pa.table({"id": ["a"], "embedding": pa.FixedSizeListArray.from_arrays(values, 2)})
    pq.write_table(table.replace_schema_metadata({b"embedcli": orjson.dumps(OLD)}), path)
    read = read_vector_table(str(path))
    assert read.provenance == Provenance.from_dict(OLD)
    again = tmp_path / "again.parquet"
    with open_vector_writer(str(again), OutputFormat.parquet, read.provenance) as writer:
        writer.write(EmbeddedBatch(read.ids, [""], read.vectors))
    assert orjson.loads(pq.read_schema(again).metadata[b"embedcli"]) == OLD
