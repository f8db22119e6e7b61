"""`similar --where`: keep the corpus rows for which an SQL predicate holds, before searching.

The predicate is evaluated by DuckDB (the `sql` extra) over a table of the corpus's id, text and other columns
(those `embed --keep-columns` carried, a document's title, a map's clusters), so any expression DuckDB accepts in a
WHERE clause works (`genre = 'faq' AND year >= 2020`, `url LIKE '%/help/%'`, `title IS NOT NULL`). The predicate
cannot reach files or the network: the connection has external access turned off.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from embedcli.errors import InputError, UsageError
from embedcli.search.corpus import Corpus

ROW = "__embedcli_row"  # the row number column, named so no corpus column takes it


def where_rows(corpus: Corpus, predicate: str) -> np.ndarray:
    """The sorted row numbers of `corpus` for which `predicate` holds (int64).

    Raises UsageError, in one line naming the columns, for a predicate DuckDB cannot parse or bind (a typo, an
    unknown column); UsageError with an install hint when duckdb is missing.
    """
    try:
        import duckdb
    except ImportError:
        raise UsageError("--where needs DuckDB", hint="pip install 'embedcli[sql]'") from None
    import pyarrow as pa

    if corpus.words is not None:
        raise UsageError("--where filters vector files by their columns; word vectors have none but the word")
    columns: dict[str, list[Any]] = {"id": list(corpus.ids)}
    if corpus.texts is not None:
        columns["text"] = corpus.texts
    columns.update(corpus.columns)
    table = pa.table({**columns, ROW: np.arange(len(corpus), dtype=np.int64)})
    connection = duckdb.connect(config={"enable_external_access": False})
    try:
        # The relation API parses the predicate as one expression: it cannot close the query and start another.
        relation = connection.from_arrow(table).filter(predicate).project(f'"{ROW}"')
        rows = np.sort(np.asarray(relation.fetchnumpy()[ROW], dtype=np.int64))
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--where {predicate!r}: {message}", hint=f"columns here: {', '.join(columns)}; strings in 'single quotes'"
        ) from None
    finally:
        connection.close()
    return rows


def corpus_where(corpus: Corpus, predicate: str) -> tuple[Corpus, np.ndarray]:
    """The corpus rows for which `predicate` holds, as a corpus of their own, with their row numbers in `corpus`.

    Raises InputError when no row matches (there would be nothing to search), UsageError as `where_rows`.
    """
    rows = where_rows(corpus, predicate)
    if not len(rows):
        raise InputError(f"{corpus.name}: no row matches --where {predicate!r}")
    return subset(corpus, rows), rows


def subset(corpus: Corpus, rows: np.ndarray) -> Corpus:
    """The corpus rows at sorted `rows` (copied out of a memory map or a batched file)."""
    vectors = np.asarray(corpus.vectors[rows])
    owned = corpus.decode is None and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    return replace(
        corpus,
        ids=[corpus.ids[i] for i in rows.tolist()],
        vectors=vectors,
        texts=[corpus.texts[i] for i in rows.tolist()] if corpus.texts is not None else None,
        columns={name: [values[i] for i in rows.tolist()] for name, values in corpus.columns.items()},
        owned=owned,
    )
