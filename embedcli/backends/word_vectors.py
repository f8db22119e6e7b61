"""Averaged word vectors: a text's vector is the mean of the vectors of its known words.

Each whitespace-separated token that is in the vocabulary (as written or lowercased, surrounding punctuation
stripped) is used whole, so item ids such as `SKU-1` stay one word and `dog,` is found as `dog`; other tokens are
split into Unicode word runs. Out-of-vocabulary words are counted and reported. A text with no known word gets a
zero vector (it cannot point anywhere), and the number of such texts is reported.
FastText .bin models have no unknown words: unseen words get vectors from their character n-grams.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import numpy as np

from embedcli.backends.base import Backend, BackendOptions
from embedcli.backends.models import ModelRef
from embedcli.errors import ModelError
from embedcli.tokens import Tokenizer, make_tokenizer

_PUNCTUATION = string.punctuation + "“”‘’«»…"


class WordVectorBackend(Backend):
    name = "word-vectors"

    def __init__(self, model: ModelRef, options: BackendOptions) -> None:
        super().__init__(model, options)
        # embed.open_backend reads the file (a format embedcli owns) and hands the gensim KeyedVectors over.
        vectors = options.extra.get("keyed_vectors")
        if vectors is None:
            raise ModelError(f"the word-vectors backend was given no vectors for {model.name}")
        self._vectors: Any = vectors
        self._has_subwords = hasattr(self._vectors, "buckets_word")
        tokenizer = options.extra.get("tokenizer", Tokenizer.words)
        self._tokenize = make_tokenizer(Tokenizer(tokenizer), options.extra.get("token_pattern"))
        self.tokens = 0
        self.unknown_tokens = 0
        self.empty_texts = 0

    @property
    def dimension(self) -> int:
        return int(self._vectors.vector_size)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            keys = [self._lookup(word) for word in self._words(text)]
            known = [k for k in keys if k is not None]
            self.tokens += len(keys)
            self.unknown_tokens += len(keys) - len(known)
            if known:
                out[row] = np.mean([self._vectors[k] for k in known], axis=0)
            else:
                self.empty_texts += 1
        return out

    def _words(self, text: str) -> Iterator[str]:
        index = self._vectors.key_to_index
        for chunk in text.split():
            bare = chunk.strip(_PUNCTUATION)
            if bare and (bare in index or bare.lower() in index):
                yield bare
            else:
                yield from self._tokenize(chunk)

    def _lookup(self, word: str) -> str | None:
        index = self._vectors.key_to_index
        if word in index:
            return word
        lowered = word.lower()
        if lowered in index:
            return lowered
        return word if self._has_subwords else None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pooling": "mean-of-words"}

    def notes(self) -> list[str]:
        notes = []
        if self.unknown_tokens:
            share = self.unknown_tokens / max(self.tokens, 1)
            notes.append(f"{self.unknown_tokens:,} of {self.tokens:,} words ({share:.1%}) were out of vocabulary")
        if self.empty_texts:
            texts = "text" if self.empty_texts == 1 else "texts"
            notes.append(
                f"{self.empty_texts:,} {texts} had none of {'its' if self.empty_texts == 1 else 'their'} words in the"
                f" vocabulary: {'its vector is' if self.empty_texts == 1 else 'their vectors are'} all zeros"
            )
        return notes
