"""Output precisions: float32, float16, calibrated int8/uint8 scalar quantization, and packed binary.

int8/uint8 follow sentence-transformers' `quantize_embeddings`: each dimension's [min, max] range is split into
256 buckets. The ranges are calibrated once (on the first batch, or given) and reused for every batch, so rows
written batch by batch are comparable; the ranges are stored in the output metadata.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

# numpy loads in the functions that compute: `embedcli --help` imports this module for its enum, and must not pay
# for numpy (tests/cli/test_cli_help_imports.py).
if TYPE_CHECKING:
    import numpy as np


class Precision(str, Enum):
    float32 = "float32"
    float16 = "float16"
    int8 = "int8"
    uint8 = "uint8"
    binary = "binary"
    ubinary = "ubinary"

    @property
    def dtype(self) -> np.dtype:
        import numpy as np

        return np.dtype(_DTYPES[self])

    @property
    def is_packed(self) -> bool:
        """Binary precisions pack 8 dimensions into each byte."""
        return self in (Precision.binary, Precision.ubinary)

    @property
    def is_float(self) -> bool:
        return self in (Precision.float32, Precision.float16)

    def width(self, dimension: int) -> int:
        """The number of stored values per row for vectors of `dimension` dimensions."""
        return (dimension + 7) // 8 if self.is_packed else dimension


_DTYPES = {
    "float32": "float32",
    "float16": "float16",
    "int8": "int8",
    "uint8": "uint8",
    "binary": "int8",
    "ubinary": "uint8",
}


def calibration_ranges(vectors: np.ndarray) -> np.ndarray:
    """Per-dimension [min, max] of `vectors`, shape (2, dim): the calibration for int8/uint8."""
    import numpy as np

    return np.vstack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)


def quantize(vectors: np.ndarray, precision: Precision, ranges: np.ndarray | None = None) -> np.ndarray:
    """Convert float32 `vectors` (n, dim) to `precision`. int8/uint8 need calibration `ranges` (2, dim)."""
    import numpy as np

    if precision is Precision.float32:
        return vectors.astype(np.float32, copy=False)
    if precision is Precision.float16:
        return vectors.astype(np.float16)
    if precision.is_packed:
        packed = np.packbits(vectors > 0, axis=-1)
        return (packed.astype(np.int16) - 128).astype(np.int8) if precision is Precision.binary else packed
    if ranges is None:
        raise ValueError("int8/uint8 quantization needs calibration ranges")
    starts = ranges[0]
    steps = (ranges[1] - ranges[0]) / 255
    steps = np.where(steps == 0, 1.0, steps)  # a constant dimension maps to one bucket instead of dividing by 0
    buckets = (vectors - starts) / steps
    if precision is Precision.uint8:
        return np.clip(buckets, 0, 255).astype(np.uint8)
    return np.clip(buckets - 128, -128, 127).astype(np.int8)


def dequantize(values: np.ndarray, precision: Precision, ranges: np.ndarray | None = None) -> np.ndarray:
    """Approximate float32 vectors back from stored values (bucket centres for int8/uint8; ±1 for binary)."""
    import numpy as np

    if precision.is_float:
        return values.astype(np.float32)
    if precision.is_packed:
        raw = values.astype(np.int16) + 128 if precision is Precision.binary else values
        bits = np.unpackbits(raw.astype(np.uint8), axis=-1)
        return bits.astype(np.float32) * 2 - 1
    if ranges is None:
        raise ValueError("int8/uint8 values need their calibration ranges to be turned back into floats")
    steps = (ranges[1] - ranges[0]) / 255
    offset = 128 if precision is Precision.int8 else 0
    return ((values.astype(np.float32) + offset + 0.5) * steps + ranges[0]).astype(np.float32)
