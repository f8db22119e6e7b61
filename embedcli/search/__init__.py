"""`similar` as a library: corpora (vector files, word vectors, stores), queries (texts, vectors, words, analogies),
exact top-k search, and the kNN graph other domains build on.

Entry points: `run_similar(SimilarRequest) -> SimilarResult` (the command's one call), `load_corpus(path)` (any
vector input as a `Corpus`), `knn_graph(vectors, k, metric)` (each row's nearest other rows).
"""

from embedcli.search.corpus import Corpus, load_corpus
from embedcli.search.graph import knn_graph

__all__ = ["Corpus", "knn_graph", "load_corpus"]
