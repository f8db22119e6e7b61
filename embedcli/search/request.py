"""One `similar` request, whatever its kind of query, turned into hits: the command's single library call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from embedcli.embed import ModelChoice
from embedcli.metrics import Metric
from embedcli.search import analogies
from embedcli.search.corpus import load_corpus
from embedcli.search.neighbours import Hit, Rescoring, find_similar
from embedcli.search.queries import every_row, file_queries, text_queries


@dataclass(frozen=True)
class SimilarRequest:
    """What to search: a corpus path and one kind of query (texts/words, a file, an analogy, pairs, or none)."""

    corpus: str
    texts: list[str] = field(default_factory=list)
    queries_file: str | None = None
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    cosmul: bool = False
    pairs: list[tuple[str, str]] = field(default_factory=list)
    k: int = 10
    metric: Metric | None = None  # None: cosine, or hamming for binary corpora
    threshold: float | None = None
    exclude_self: bool = False
    rescore: str | None = None
    version: int | None = None  # of a store corpus
    model: ModelChoice = field(default_factory=ModelChoice)


@dataclass
class SimilarResult:
    """Hits (lazy: searching happens while they are read), the metric their scores are in, and warnings."""

    hits: Iterable[Hit]
    metric: Metric
    warnings: list[str]
    queries: int = 0  # how many queries the hits answer (0: a few word pairs or an analogy), for progress


def run_similar(request: SimilarRequest) -> SimilarResult:
    """Load the corpus, build the queries, validate, and return the hits to stream."""
    corpus = load_corpus(request.corpus, version=request.version)
    metric = request.metric or (Metric.hamming if corpus.precision.is_packed else Metric.cosine)
    if request.pairs:
        return SimilarResult(analogies.pair_hits(corpus, request.pairs, metric), metric, [])
    analogy = request.positive or request.negative
    if analogy and request.cosmul:
        hits = analogies.cosmul_hits(corpus, request.positive, request.negative, request.k)
        return SimilarResult(hits, Metric.cosine, [])
    warnings: list[str] = []
    if analogy:
        queries = analogies.analogy_queries(corpus, request.positive, request.negative)
    elif request.queries_file:
        queries, warnings = file_queries(request.queries_file, corpus, request.model)
    elif request.texts:
        queries, warnings = text_queries(corpus, request.texts, request.model)
    else:
        queries = every_row(corpus)
    rescoring = None
    if request.rescore:  # hamming ranks bits; the float originals are compared by cosine
        rescoring = Rescoring(load_corpus(request.rescore), Metric.cosine if metric is Metric.hamming else metric)
    hits, more = find_similar(corpus, queries, metric, request.k, request.threshold, request.exclude_self, rescoring)
    return SimilarResult(hits, rescoring.metric if rescoring else metric, warnings + more, len(queries.labels))
