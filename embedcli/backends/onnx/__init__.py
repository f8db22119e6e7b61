"""The torch-free ONNX backend: `runtime` runs a cached export, `export` makes one (torch), `cache` keeps them.

`encoder` turns texts into vectors with a loaded export. This module holds what every part (and the CLI's options)
shares without importing numpy: the export's file names and options.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
PIPELINE_FILE = "pipeline.json"
# Bump when the export recipe changes what is stored: old entries then stop matching.
EXPORT_VERSION = 1


class Quantize(str, Enum):
    none = "none"
    int8 = "int8"  # dynamic int8: weights quantized per channel, activations per batch at run time


def export_options(quantize: Quantize) -> dict[str, Any]:
    """What an export depends on besides the model's files: part of the cache key and shown by `embedcli models`."""
    options: dict[str, Any] = {"format": "onnx", "version": EXPORT_VERSION, "quantize": quantize.value}
    if quantize is Quantize.int8:
        options.update(per_channel=True, reduce_range=False, ops=["MatMul"])
    return options
