"""Integer matrix products through onnxruntime: the int8 kernel of the certified exact search.

onnxruntime imports in about 0.15 s (torch: over a second) and its MLAS library multiplies uint8 by int8 with
VNNI or AMX where the CPU has them (about 4x numpy's float32 matmul here) and with AVX2 elsewhere. The product of
the integers is exact in int32; `MatMulIntegerToFloat` scales it by a per-column factor into float32 with one
rounding, so the caller knows the error of every output to the last bit.

Saturation: without VNNI, x86 kernels add pairs of uint8 x int8 products in int16 (vpmaddubsw), which saturates
past 32,767. Rows are then quantized to 63 levels (255 x 63 x 2 = 32,130 fits); with VNNI or AMX the products are
summed in int32 and 127 levels are used.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from embedcli.errors import UsageError

QUERY_LEVELS = 127  # queries: int8 values -127..127, passed as uint8 with zero point 128
ZERO_POINT = 128


def corpus_levels(flags: set[str]) -> int:
    """Largest |int8| of corpus rows on this CPU: 127 where its kernels sum in int32 (VNNI, AMX), else 63."""
    return 127 if {"avx512_vnni", "avx_vnni", "amx_int8"} & flags else 63


def quantize_rows(rows: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 scales) with rows ~= scales[:, None] * ints and |ints| <= levels, one scale per row.

    A row's scale is its largest |value| / levels (1 for an all-zero row), so its own range is used in full.
    """
    peak = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(len(rows), np.float32)
    scales = np.where(peak > 0, peak / np.float32(levels), np.float32(1)).astype(np.float32)
    ints = np.rint(rows / scales[:, None])
    return np.clip(ints, -levels, levels).astype(np.int8), scales


def _session(threads: int) -> Any:
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        raise UsageError(
            "the int8 exact kernel needs onnxruntime and onnx, which are not installed",
            hint="pip install 'embedcli[onnx]', or --exact-kernel auto",
        ) from None

    node = helper.make_node(
        "MatMulIntegerToFloat", ["A", "B", "a_scale", "b_scale", "a_zero_point"], ["Y"], domain="com.microsoft"
    )
    graph = helper.make_graph(
        [node],
        "integer_product",
        [
            helper.make_tensor_value_info("A", TensorProto.UINT8, [None, None]),
            helper.make_tensor_value_info("B", TensorProto.INT8, [None, None]),
            helper.make_tensor_value_info("a_scale", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("b_scale", TensorProto.FLOAT, [None]),
            helper.make_tensor_value_info("a_zero_point", TensorProto.UINT8, []),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, None])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class IntegerProduct:
    """`product(queries, columns, scales)` = float32 (q, n) of (queries - 128) . columns[:, j] * scales[j].

    `queries` uint8 (q, d) (int8 values + 128), `columns` int8 (d, n) C-contiguous, `scales` float32 (n,). The
    output is written into one buffer kept for every call (a fresh 64 MiB per block costs its page faults); it is
    overwritten by the next call.
    """

    def __init__(self, threads: int | None = None) -> None:
        if threads is None:  # 0 lets onnxruntime pick; the affinity mask is what this process may use
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        self.session = _session(threads)
        self.buffer = np.empty(0, np.float32)
        self.one = np.array(1.0, np.float32)
        self.zero_point = np.array(ZERO_POINT, np.uint8)

    def __call__(self, queries: np.ndarray, columns: np.ndarray, scales: np.ndarray) -> np.ndarray:
        size = len(queries) * columns.shape[1]
        if len(self.buffer) < size:
            self.buffer = np.empty(size, np.float32)
        out = self.buffer[:size].reshape(len(queries), columns.shape[1])
        binding = self.session.io_binding()
        binding.bind_cpu_input("A", np.ascontiguousarray(queries))
        binding.bind_cpu_input("B", np.ascontiguousarray(columns))
        binding.bind_cpu_input("a_scale", self.one)
        binding.bind_cpu_input("b_scale", np.ascontiguousarray(scales, dtype=np.float32))
        binding.bind_cpu_input("a_zero_point", self.zero_point)
        binding.bind_output("Y", "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        self.session.run_with_iobinding(binding)
        return out
