"""One `similar` request, whatever its kind of query, turned into hits: the command's single library call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from embedcli.embed import ModelChoice
from embedcli.errors import UsageError
from embedcli.metrics import Metric
from embedcli.search import analogies
from embedcli.search.corpus import load_corpus
from embedcli.search.neighbours import Hit, Rescoring, SearchWith, find_similar
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
    index: str | None = None  # an `embedcli index` file of this corpus: approximate search, exact scores
    ef: int | None = None  # the index's search breadth (None: tuned at build time)
    exact_kernel: str = "auto"  # exact search: auto, bf16 or float32 (`neighbours.SearchWith`)
    cache_dir: Path | None = None  # where the exact kernels' measured speeds are cached


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
    if request.index is not None:
        from embedcli.search.indexed import index_metric

        if request.pairs or request.cosmul:
            raise UsageError("--index answers queries; --pair and --cosmul score words exactly", hint="drop --index")
        metric = request.metric or index_metric(request.index)
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
    way = SearchWith(
        request.index, request.ef, request.exact_kernel, request.cache_dir, request.corpus, request.version
    )
    hits, more = find_similar(
        corpus, queries, metric, request.k, request.threshold, request.exclude_self, rescoring, way
    )
    return SimilarResult(hits, rescoring.metric if rescoring else metric, warnings + more, len(queries.labels))
