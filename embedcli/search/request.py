"""One `similar` request, whatever its kind of query, turned into hits: the command's single library call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedcli.embed import ModelChoice
from embedcli.errors import UsageError
from embedcli.metrics import Metric
from embedcli.search import analogies
from embedcli.search.corpora import corpus_paths, load_corpora
from embedcli.search.corpus import load_corpus
from embedcli.search.neighbours import Hit, Rescoring, SearchWith, find_similar, hit_columns
from embedcli.search.queries import every_row, file_queries, text_queries
from embedcli.search.where import corpus_where, subset


@dataclass(frozen=True)
class SimilarRequest:
    """What to search: a corpus (a path, or several paths, globs and folders searched as one, see
    `search.corpora`), which of its rows (`where`, an SQL predicate on its columns) and one kind of query
    (texts/words, a file, an analogy, pairs, or none)."""

    corpus: str | list[str]
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
    exact_kernel: str = "auto"  # exact search: auto, bf16, int8 or float32 (`neighbours.SearchWith`)
    cache_dir: Path | None = None  # where the exact kernels' measured speeds are cached
    announce: Callable[[str], None] | None = None  # told of slow one-time work (measuring the exact kernels)
    where: str | None = None  # search only the corpus rows for which this predicate holds (`search.where`)
    columns: list[str] | None = None  # corpus columns each hit carries (None: all but the span's, see `hit_columns`)


@dataclass
class SimilarResult:
    """Hits (lazy: searching happens while they are read), the metric their scores are in, and warnings."""

    hits: Iterable[Hit]
    metric: Metric
    warnings: list[str]
    queries: int = 0  # how many queries the hits answer (0: a few word pairs or an analogy), for progress
    columns: dict[str, list[Any]] = field(default_factory=dict)  # the corpus columns the hits carry, whole, in order


def run_similar(request: SimilarRequest) -> SimilarResult:
    """Load the corpus, build the queries, validate, and return the hits to stream."""
    paths = corpus_paths([request.corpus] if isinstance(request.corpus, str) else list(request.corpus))
    if request.index is not None and len(paths) > 1:
        raise UsageError("--index searches the one corpus it was built on", hint="drop --index, or name one corpus")
    if request.index is not None and request.where is not None:
        raise UsageError("--where filters rows for exact search; an index holds every row", hint="drop --index")
    corpus = load_corpora(paths, request.version)
    full_rows, kept = len(corpus), None
    if request.where is not None:
        corpus, kept = corpus_where(corpus, request.where)
    shown = hit_columns(corpus, request.columns)
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
        original = load_corpus(request.rescore)
        if kept is not None and len(original) == full_rows:
            original = subset(original, kept)  # the same rows as the filtered corpus
        rescoring = Rescoring(original, Metric.cosine if metric is Metric.hamming else metric)
    way = SearchWith(
        request.index, request.ef, request.exact_kernel, request.cache_dir, paths[0], request.version, request.announce
    )
    hits, more = find_similar(
        corpus, queries, metric, request.k, request.threshold, request.exclude_self, rescoring, way, shown
    )
    final = rescoring.metric if rescoring else metric
    columns = {name: corpus.columns[name] for name in shown}
    return SimilarResult(hits, final, warnings + more, len(queries.labels), columns)
