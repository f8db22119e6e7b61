"""`embedcli similar`: nearest neighbours of texts, vectors or words in a corpus of vectors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import typer

from embedcli.cli import options as opt
from embedcli.cli.console import info, make_console, plural, progress_bar, stdin_is_terminal, visible, warn
from embedcli.errors import UsageError
from embedcli.formats import STDIO, HitFormat, Kind, format_of
from embedcli.formats.hits import write_hits
from embedcli.formats.targets import resolve_output
from embedcli.metrics import Metric

if TYPE_CHECKING:
    from embedcli.search.neighbours import Hit

if TYPE_CHECKING:
    from rich.console import Console

EPILOG = """\
Examples:

  embedcli similar vectors.parquet "how do I reset my password"

  cat faq.txt | embedcli embed | embedcli similar - "refund policy" -k 3

  embedcli similar vectors.parquet --queries questions.txt -o hits.jsonl

  embedcli similar corpus.npy --queries queries.npy -k 10 --metric euclidean

  embedcli similar vectors.parquet -k 5 --threshold 0.9 -o dupes.parquet

  embedcli similar v.parquet "refund" --where "genre = 'faq'"

  embedcli similar v.parquet "refund" --show-columns genre,url

  embedcli similar --corpus faq.parquet --corpus manual.parquet "reset my password"

  embedcli similar vectors/ "reset my password"

  embedcli similar words.bin king -k 10

  embedcli similar words.bin --positive king --positive woman --negative man

  embedcli similar words.bin --pair cat dog --pair car tree

  embedcli similar binary.parquet "query" --rescore float32.parquet

  embedcli similar vectors.parquet --queries questions.parquet -k 10 --index vectors.index -o hits.parquet
"""

PROGRESS_EVERY = 64  # queries between progress updates (search answers them 1,024 at a time)

Words = Annotated[list[str] | None, typer.Option(show_default=False)]


def similar(
    corpus: Annotated[
        str | None,
        typer.Argument(
            help="Vector file (Parquet, Arrow, NPY, JSONL), store, folder or glob of vector files, or word vectors; "
            "'-': stdin. With --corpus, a query instead.",
            show_default=False,
        ),
    ] = None,
    queries: Annotated[
        list[str] | None,
        typer.Argument(help="Query texts (words for word vectors). None: every corpus row."),
    ] = None,
    queries_file: Annotated[
        str | None,
        typer.Option(
            "--queries", "-Q", help="Queries from a file ('-': stdin): texts, or vectors.", show_default=False
        ),
    ] = None,
    corpora: Annotated[
        list[str] | None,
        typer.Option(
            "--corpus",
            "-C",
            help="Search this corpus too (repeatable; a file, folder or glob): all of them as one, ids prefixed "
            "with their file. Every positional argument is then a query.",
            show_default=False,
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            metavar="SQL",
            help="Search only the corpus rows for which this SQL predicate on their columns holds, e.g. "
            "\"genre = 'faq'\" (DuckDB; the sql extra).",
            show_default=False,
        ),
    ] = None,
    show_columns: Annotated[
        str | None,
        typer.Option(
            "--show-columns",
            metavar="NAMES",
            help="Corpus columns each hit shows, comma-separated (e.g. genre,url), or 'none'. Default: all of them "
            "(those embed --keep-columns carried, a title, clusters) in JSONL, CSV and Parquet; none in the table.",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Hits per query.")] = 10,
    metric: Annotated[
        Metric | None,
        typer.Option(
            "--metric", help="cosine (default; hamming for binary vectors), dot, euclidean, manhattan, hamming."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Keep hits with at least this similarity (at most this distance).", show_default=False
        ),
    ] = None,
    exclude_self: Annotated[
        bool, typer.Option("--exclude-self", help="Drop hits that are the query itself (same id or text).")
    ] = False,
    positive: Annotated[
        list[str] | None, typer.Option("--positive", "-p", help="Analogy: a word to add.", show_default=False)
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", "-n", help="Analogy: a word to subtract.", show_default=False)
    ] = None,
    cosmul: Annotated[bool, typer.Option("--cosmul", help="Analogies by 3CosMul instead of 3CosAdd.")] = False,
    pair: Annotated[
        list[str] | None,
        typer.Option("--pair", metavar="A B", help="Score the pair A B (repeatable).", show_default=False),
    ] = None,
    rescore: Annotated[
        str | None,
        typer.Option(
            "--rescore",
            metavar="ORIGINAL",
            help="The float vectors an int8/binary corpus was quantized from: rescore the candidates with them.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Embed text queries with this model, not the corpus's.", show_default=False),
    ] = None,
    backend: opt.BackendOpt = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Prompt for text queries.", show_default=False)] = None,
    output: opt.OutputOpt = None,
    fmt: Annotated[
        HitFormat | None,
        typer.Option(
            "--format", "-f", help="Default: by -o suffix; a table on a terminal, else jsonl.", show_default=False
        ),
    ] = None,
    version: opt.StoreVersionOpt = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            help="Search with this index of the corpus (embedcli index): fast, approximate.",
            show_default=False,
        ),
    ] = None,
    ef: opt.IndexEfOpt = None,
    exact_kernel: opt.ExactKernelOpt = opt.ExactKernel.auto,
    quiet: opt.QuietOpt = False,
) -> None:
    """Find the nearest corpus rows of each query, exactly, best first; text queries use the corpus's model.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    from embedcli.backends.onnx.cache import cache_root
    from embedcli.embed import ModelChoice
    from embedcli.search.request import SimilarRequest, run_similar

    searched, queries = _corpora(corpus, corpora, queries)
    queries, queries_file = _vector_file_as_queries(queries, queries_file, quiet)
    target, out = _output(output, fmt, [*searched, queries_file, rescore, model, index])
    if STDIO in (*searched, queries_file) and stdin_is_terminal():
        raise UsageError("'-' reads stdin, but stdin is a terminal", hint="pipe data in, or name a file")
    if STDIO in searched and queries_file == STDIO:
        raise UsageError("stdin can hold the corpus or the queries, not both")
    if pair and len(pair) != len(queries or []):
        raise UsageError("--pair takes two words: --pair A B")
    if sum(map(bool, (queries_file, positive or negative, pair))) > 1 or (queries and queries_file):
        raise UsageError("give one kind of query: texts, --queries, --positive/--negative, or --pair")
    request = SimilarRequest(
        searched,
        texts=[] if pair else list(queries or []),
        queries_file=queries_file,
        positive=list(positive or []),
        negative=list(negative or []),
        cosmul=cosmul,
        pairs=list(zip(pair, queries or [], strict=True)) if pair else [],
        k=k,
        metric=metric,
        threshold=threshold,
        exclude_self=exclude_self,
        rescore=rescore,
        version=version,
        model=ModelChoice(model, backend, prompt, announce=None if quiet else info),
        index=index,
        ef=ef,
        exact_kernel=exact_kernel.value,
        cache_dir=cache_root(),
        announce=None if quiet else info,
        where=where,
        columns=_shown_columns(show_columns, out),
    )
    result = run_similar(request)
    for message in result.warnings:
        warn(message)
    if out is HitFormat.table:
        count = _render(result.hits, result.metric)
    else:
        with progress_bar("searching", result.queries, enabled=not quiet and result.queries > 1) as update:
            count = write_hits(_reporting(result.hits, update), target, out, result.columns)
    if not quiet and out is not HitFormat.table:
        info(f"{plural(count, 'hit')} by {result.metric.value} {result.metric.score_name}")


def _shown_columns(names: str | None, out: HitFormat) -> list[str] | None:
    """The corpus columns hits show: those named ('none': none); unnamed, all of them in files (None), none in the
    table, which stays narrow enough for a terminal."""
    if names is None:
        return [] if out is HitFormat.table else None
    if names.strip().lower() == "none":
        return []
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    if not chosen:
        raise UsageError("--show-columns takes column names, comma-separated, or 'none'")
    return chosen


def _reporting(hits: Iterable[Hit], update: Callable[[int, int], None]) -> Iterator[Hit]:
    """The hits, passed through, telling `update` (queries answered, hits) as each query's first hit goes by."""
    answered = count = 0
    for hit in hits:
        if hit.rank == 1:
            answered += 1
            if answered % PROGRESS_EVERY == 0:
                update(answered, count)
        count += 1
        yield hit
    update(answered, count)


def _output(output: str | None, fmt: HitFormat | None, reads: list[str | None]) -> tuple[str | None, HitFormat]:
    if fmt is HitFormat.table and output not in (None, STDIO):
        raise UsageError("a table is for the terminal only", hint="write files as --format jsonl, csv or parquet")
    target = resolve_output(
        output,
        Kind.hits,
        fmt.value if fmt else None,
        stdout_is_terminal=sys.stdout.isatty(),
        on_terminal=HitFormat.table.value,
        in_pipe=HitFormat.jsonl.value,
        protected=reads,
    )
    return target.path, HitFormat(target.format)


def _render(hits: Iterable[Hit], metric: Metric, console: Console | None = None) -> int:
    """One rich table per query on the terminal (`console`, default stdout). User text is never read as markup,
    and its control characters are shown as escapes (`visible`), so a corpus cannot drive the terminal."""
    from rich.table import Table
    from rich.text import Text

    console, count = console or make_console(), 0
    for query, group in _by_query(hits):
        spans = any(h.span is not None for h in group)
        shown = list(dict.fromkeys(name for h in group for name in h.columns or {}))
        columns = ["rank", metric.score_name, "id"] + (["document", "span"] if spans else []) + shown
        columns += ["text"] if any(h.text is not None for h in group) else []
        table = Table(title=Text(visible(query)), title_justify="left", show_edge=False)
        for name in columns:
            table.add_column(name, justify="right" if name in ("rank", metric.score_name) else "left")
        for hit in group:
            cells: list[str | Text] = [str(hit.rank), f"{hit.score:.4f}", Text(visible(hit.id))]
            if spans:  # the document and the characters [start, end) of it that the chunk holds
                document, start, end = hit.span or ("", 0, 0)
                cells += [Text(visible(document)), f"{start:,}–{end:,}" if hit.span else ""]
            values = hit.columns or {}
            cells += [Text(visible("" if values.get(name) is None else str(values[name]))) for name in shown]
            cells.append(Text(visible(hit.text or "")))
            table.add_row(*cells[: len(columns)])
            count += 1
        console.print(table)
    return count


def _corpora(corpus: str | None, corpora: list[str] | None, queries: list[str] | None) -> tuple[list[str], list[str]]:
    """(the corpora to search, the query texts): with --corpus, the first positional argument is a query too."""
    if corpora:
        return list(corpora), [*([corpus] if corpus is not None else []), *(queries or [])]
    if corpus is None:
        raise UsageError("name a corpus to search", hint="embedcli similar vectors.parquet 'query', or --corpus FILE")
    return [corpus], list(queries or [])


def _vector_file_as_queries(
    queries: list[str] | None, queries_file: str | None, quiet: bool
) -> tuple[list[str] | None, str | None]:
    """One positional query that names an existing vector file is read as `--queries FILE`, with a note: embedding
    the string "b.parquet" as a text query is never what was meant. Among several query texts, a vector file is an
    error saying how to search several corpora."""
    if queries and len(queries) > 1:
        named = next((q for q in queries if os.path.isfile(q) and format_of(q, Kind.vectors) is not None), None)
        if named is not None:
            raise UsageError(
                f"'{visible(named)}' is a vector file, not a query text",
                hint=f"search several corpora with --corpus FILE (repeatable), or read queries with --queries "
                f"{visible(named)}",
            )
    if queries_file is not None or not queries or len(queries) != 1:
        return queries, queries_file
    path = queries[0]
    if not os.path.exists(path) or format_of(path, Kind.vectors) is None:
        return queries, queries_file
    if not quiet:
        info(f"note: '{visible(path)}' is a vector file: read as --queries {visible(path)}, not as a query text")
    return None, path


def _by_query(hits: Iterable[Hit]) -> Iterator[tuple[str, list[Hit]]]:
    for query, group in groupby(hits, key=lambda hit: hit.query):
        yield query, list(group)
