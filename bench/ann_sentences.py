"""Real sentence embeddings for the ANN benchmark: STS-B and Gutenberg sentences, embedded once and cached.

Run as a script to fill the cache: `python bench/ann_sentences.py [--limit N]`. The cache is a set of .npy chunks
under /tmp/ann-cache (float32, unit rows from all-MiniLM-L6-v2) so an interrupted run keeps what it embedded. The
sentences are read by tests/real_sentences.py, which the tests on real embeddings use too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_sentences import gutenberg_sentences, shipped_model_vectors, stsb_sentences

DATA = Path(os.environ.get("EMBEDCLI_DATA", "/work/shared/data"))
CACHE = Path(os.environ.get("ANN_CACHE", "/tmp/ann-cache"))
CHUNK = 8192


def sentences() -> list[str]:
    stsb = stsb_sentences(DATA)
    known = set(stsb)
    return stsb + [s for s in gutenberg_sentences(DATA) if s not in known]


def embed(texts: list[str], threads: int = 2) -> np.ndarray:
    """Unit float32 rows (len(texts), 384) from the shipped all-MiniLM-L6-v2."""
    import torch

    torch.set_num_threads(threads)
    return shipped_model_vectors(texts)


def cached(limit: int | None = None) -> np.ndarray:
    """The cached embeddings, in sentence order (STS-B first), at most `limit` rows; empty if none are cached."""
    parts = sorted(CACHE.glob("chunk-*.npy"))
    arrays = []
    total = 0
    for part in parts:
        arrays.append(np.load(part))
        total += len(arrays[-1])
        if limit is not None and total >= limit:
            break
    vectors = np.concatenate(arrays) if arrays else np.empty((0, 384), np.float32)
    return vectors[:limit] if limit is not None else vectors


def fill(limit: int) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    texts = sentences()[:limit]
    for number, start in enumerate(range(0, len(texts), CHUNK)):
        target = CACHE / f"chunk-{number:04d}.npy"
        if target.exists():
            continue
        vectors = embed(texts[start : start + CHUNK])
        np.save(CACHE / f"tmp-{number:04d}.npy", vectors)
        os.replace(CACHE / f"tmp-{number:04d}.npy", target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=200_000)
    args = parser.parse_args(argv)
    fill(args.limit)


if __name__ == "__main__":
    main()
