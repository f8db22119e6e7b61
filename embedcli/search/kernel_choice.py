"""Which exact kernel a job should use: bf16 where the CPU has the instructions and the job repays importing torch.

A capability check (/proc/cpuinfo flags) decides whether bf16 can be fast at all; the break-even against the ~2 s
of importing torch uses this machine kind's figures, or speeds measured once and cached in a directory the caller
names (beside the model cache). Kept apart from `fast_exact` so that choosing imports neither torch nor the search.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# Break-even of the bf16 kernel: the bf16 matmul scores about 6x faster than the float32 one here (2.4e11 against
# 4e10 multiply-adds/s), so it saves about 2e-11 s per multiply-add; importing torch costs about 2 s.
TORCH_IMPORT_S = 2.0
F32_RATE = 4.0e10
BF16_RATE = 2.4e11
CACHE_FILE = "exact_kernel.json"


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _measured_rates(cache_dir: Path | None) -> tuple[float, float]:
    """(float32, bf16) multiply-adds per second: measured once (about a second) and cached in `cache_dir`."""
    if cache_dir is None:
        return F32_RATE, BF16_RATE
    path = cache_dir / CACHE_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        return float(cached["float32"]), float(cached["bf16"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    import torch

    rng = np.random.default_rng(0)
    q = rng.standard_normal((512, 384), dtype=np.float32)
    c = rng.standard_normal((8192, 384), dtype=np.float32)
    qb, cb = torch.from_numpy(q).bfloat16(), torch.from_numpy(c).bfloat16()
    rates = {}
    for name, run in (("float32", lambda: q @ c.T), ("bf16", lambda: torch.mm(qb, cb.T))):
        run()
        started = time.perf_counter()
        for _ in range(3):
            run()
        rates[name] = 3 * q.shape[0] * c.shape[0] * c.shape[1] / (time.perf_counter() - started)
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(rates), encoding="utf-8")
    os.replace(temporary, path)
    return rates["float32"], rates["bf16"]


def choose_kernel(n_queries: int, n_rows: int, dim: int, cache_dir: Path | None = None) -> str:
    """The fastest exact kernel for this job on this CPU: "bf16" or "float32".

    bf16 needs AVX512_BF16 or AMX-BF16 (from /proc/cpuinfo) and an installed torch, and must save more time than
    importing torch costs (nothing when torch is imported already). With `cache_dir`, the two kernels' speeds are
    measured once on this machine and cached there (`exact_kernel.json`); otherwise this machine's typical figures
    are assumed. Without the bf16 instructions, float32 (numpy) is the fastest exact path.
    """
    flags = cpu_flags()
    if not ({"avx512_bf16", "amx_bf16"} & flags) or importlib.util.find_spec("torch") is None:
        return "float32"
    work = float(n_queries) * n_rows * dim
    needed = 0.05 if "torch" in sys.modules else TORCH_IMPORT_S  # seconds bf16 must save to be worth it
    if work / F32_RATE < needed:  # cannot repay it whatever the speeds: measure nothing
        return "float32"
    f32, bf16 = _measured_rates(cache_dir)
    return "bf16" if work / f32 - work / bf16 > needed else "float32"
