"""Which exact kernel a job should use: the one whose import plus search time is least for this job on this CPU.

Kernels (`fast_exact`): "float32" (numpy, nothing to import), "int8" (onnxruntime's integer products, ~0.3 s to
import; 127 levels with VNNI or AMX, else 63) and "bf16" (torch's oneDNN products, 1-2 s to import; needs
AVX512_BF16 or AMX-BF16). A capability check (/proc/cpuinfo flags, installed libraries) says which can run. Their
speeds are this machine kind's figures or, given a directory beside the model cache, measured once on this machine
by a small search with each kernel (`fast_exact.measure_rates`) and cached there. The measured speed is the whole
search's (scoring, selection, rescoring), not the product's alone: int8's looser bound rescores more rows.
Kept apart from `fast_exact` so that choosing imports neither torch nor onnxruntime nor the search.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

# Multiply-adds per second of a whole exact search as `similar` runs it (k = 10, unit rows of d = 384; float32 is
# `top_k.search`) on this machine kind (2 cores, AVX-512 with BF16, VNNI and AMX), from bench/bench_exact.py's
# 200,000 x 1,000 job; and what each kernel's libraries cost to import in a fresh interpreter there.
TYPICAL_RATES = {"float32": 9.0e10, "int8": 8.0e10, "bf16": 1.9e11}
IMPORT_SECONDS = {"float32": 0.0, "int8": 0.3, "bf16": 1.5}
MAX_SAVING = 0.75  # the most of float32's time a low-precision kernel saves (its products run ~4x faster at best)
IMPORTED_SECONDS = 0.05  # a kernel whose library is imported already still sets up its pass
LIBRARIES = {"float32": (), "int8": ("onnxruntime", "onnx"), "bf16": ("torch",)}
CACHE_FILE = "exact_kernels.json"


@functools.cache
def _cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, feature flags) of the first CPU in /proc/cpuinfo, read once per process (empty where there is
    none, e.g. macOS)."""
    model, flags = "", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model, flags


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    return set(_cpu_info()[1])


def cpu_signature(flags: set[str]) -> str:
    """What the measured speeds depend on: the CPU model, the instructions the kernels use, the cores available.

    A cache directory can outlive the machine (a home folder moved, a container image): speeds cached for another
    signature are measured again.
    """
    model = _cpu_info()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    used = sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8"})
    return f"{model} | {' '.join(used)} | {cores} cores"


def usable_kernels(flags: set[str] | None = None) -> list[str]:
    """The kernels this CPU and installation can run fast, float32 first.

    bf16 needs the instructions (without them oneDNN emulates it, slower than float32). int8 runs on any x86 CPU
    with onnxruntime, but without VNNI its products are only measured, never assumed, to beat float32.
    """
    flags = cpu_flags() if flags is None else flags
    kernels = ["float32"]
    if all(importlib.util.find_spec(name) is not None for name in LIBRARIES["int8"]):
        kernels.append("int8")
    if {"avx512_bf16", "amx_bf16"} & flags and importlib.util.find_spec("torch") is not None:
        kernels.append("bf16")
    return kernels


def _import_cost(kernel: str) -> float:
    if all(name in sys.modules for name in LIBRARIES[kernel]):
        return IMPORTED_SECONDS if LIBRARIES[kernel] else 0.0
    return IMPORT_SECONDS[kernel]


def _typical_rates(kernels: list[str], flags: set[str]) -> dict[str, float]:
    rates = {kernel: TYPICAL_RATES[kernel] for kernel in kernels}
    if "int8" in rates and not {"avx512_vnni", "avx_vnni", "amx_int8"} & flags:
        rates["int8"] = 0.0  # not assumed: measured where a cache directory is given
    return rates


Measure = Callable[[list[str]], dict[str, float]]


def _cached_rates(
    kernels: list[str], cache_dir: Path, measure: Measure, announce: Callable[[str], None] | None, signature: str
) -> dict[str, float]:
    path = cache_dir / CACHE_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        rates = cached["rates"]
        if cached["cpu"] == signature and set(kernels) <= set(rates):
            return {kernel: float(rates[kernel]) for kernel in kernels}
    except (OSError, ValueError, TypeError, KeyError):
        pass
    if announce is not None:
        names = ", ".join(kernels)
        announce(f"measuring the exact search kernels' speeds on this machine, once ({names}; a few seconds)")
    rates = measure(kernels)
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"cpu": signature, "rates": rates}), encoding="utf-8")
    os.replace(temporary, path)
    return rates


def choose_kernel(
    n_queries: int,
    n_rows: int,
    dim: int,
    cache_dir: Path | None = None,
    measure: Measure | None = None,
    announce: Callable[[str], None] | None = None,
) -> str:
    """The fastest exact kernel for this job on this CPU: "bf16", "int8" or "float32".

    Each usable kernel is charged its libraries' import (nothing when imported already) plus the job's multiply-
    adds at its speed; the least total wins. With `cache_dir`, the speeds are measured once on this machine by
    `measure` (`fast_exact.measure_rates`, passed in so that this module needs nothing of the search) and cached
    there (`exact_kernels.json`, with the CPU they were measured on); otherwise this machine kind's typical figures
    are assumed. A job too small to repay any import, even at the best speed-up a kernel could bring
    (`MAX_SAVING`), stays on float32 without measuring anything. `announce` is told before a measurement.
    """
    flags = cpu_flags()
    kernels = usable_kernels(flags)
    work = float(n_queries) * n_rows * dim
    cheapest = min((_import_cost(kernel) for kernel in kernels if kernel != "float32"), default=None)
    if cheapest is None or MAX_SAVING * work / TYPICAL_RATES["float32"] < cheapest:  # nothing can repay its import
        return "float32"
    imports = {kernel: _import_cost(kernel) for kernel in kernels}  # before measuring, which imports them all
    if cache_dir is not None and measure is not None:
        rates = _cached_rates(kernels, cache_dir, measure, announce, cpu_signature(flags))
    else:
        rates = _typical_rates(kernels, flags)
    return cheapest_kernel(work, rates, imports)


def cheapest_kernel(work: float, rates: dict[str, float], import_seconds: dict[str, float]) -> str:
    """The kernel with the least import plus `work` multiply-adds at its rate (rate 0: not usable); float32 on a tie."""
    seconds = {kernel: import_seconds[kernel] + work / rate for kernel, rate in rates.items() if rate > 0}
    return min(seconds, key=lambda kernel: (seconds[kernel], kernel != "float32"))
