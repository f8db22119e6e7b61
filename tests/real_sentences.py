"""Real sentences from the shared data and their vectors from the shipped model: one reader for the tests that need
real embeddings and for the ANN benchmark's cache (bench/ann_sentences.py), so both read the same sentences in the
same order."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def stsb_sentences(data: Path) -> list[str]:
    """Every distinct STS-B sentence (train, dev, test), in file order."""
    seen: dict[str, None] = {}
    for part in ("train", "dev", "test"):
        with open(data / "stsbenchmark" / f"sts-{part}.csv", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                for text in row[5:7]:
                    seen.setdefault(text.strip(), None)
    return [s for s in seen if s]


def gutenberg_sentences(data: Path) -> list[str]:
    """Distinct sentences of 20 to 300 characters from the bodies of the English novels, in file order."""
    seen: dict[str, None] = {}
    for path in sorted((data / "gutenberg-en").glob("*.txt")):
        if path.name.startswith("PROJECT"):  # the licence, not a novel
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        start, end = text.find("*** START"), text.find("*** END")
        body = text[text.find("\n", start) if start >= 0 else 0 : end if end >= 0 else len(text)]
        for sentence in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", body)):
            if 20 <= len(sentence) <= 300:
                seen.setdefault(sentence, None)
    return list(seen)


def shipped_model_vectors(texts: Sequence[str], normalize: bool = True, batch_size: int = 128) -> np.ndarray:
    """float32 rows (len(texts), 384) from the shipped all-MiniLM-L6-v2 (unit rows with `normalize`), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from embedcli.backends.models import shipped_model_path

    model = SentenceTransformer(str(shipped_model_path("all-MiniLM-L6-v2")), device="cpu")
    vectors = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=normalize)
    return np.asarray(vectors, dtype=np.float32)
