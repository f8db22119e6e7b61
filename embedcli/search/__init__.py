"""`similar` as a library: corpora (vector files, word vectors, stores), queries (texts, vectors, words, analogies),
exact top-k search, and the kNN graph other domains build on.

Entry points: `run_similar(SimilarRequest) -> SimilarResult` (the command's one call), `load_corpus(path)` (any
vector input as a `Corpus`), `knn_graph(vectors, k, metric)` (each row's nearest other rows),
`build_for_corpus(IndexRequest)` (`embedcli index`: an HNSW index file, faiss, the `ann` extra) and
`read_index_header(path)` (what an index file records, for `info`).
"""

from embedcli.search.ann import AnnPrecision, IndexHeader
from embedcli.search.ann_file import read_header as read_index_header
from embedcli.search.corpus import Corpus, load_corpus
from embedcli.search.graph import knn_graph
from embedcli.search.index_run import IndexRequest, build_for_corpus

__all__ = [
    "AnnPrecision",
    "Corpus",
    "IndexHeader",
    "IndexRequest",
    "build_for_corpus",
    "knn_graph",
    "load_corpus",
    "read_index_header",
]
