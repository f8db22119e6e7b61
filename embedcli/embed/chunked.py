"""`embed --chunk`: documents in, one row per chunk (or, with --pool, one per document) out, streamed.

Chunk rows have the id `<doc>#<n>` (n from 1), the chunk's text, and the columns `doc_id`, `chunk`, `start`, `end`
(`text[start:end]` of the document is the chunk). Pooled rows have the document's id and text and a `chunks` column.
Both carry, after those, their document's values of the columns `--keep-columns` names.

Pooling is defined on the model's own vectors: each document's vector is the mean (or element-wise max, or the
first) of its chunks' vectors as the model gives them, before any of embed's own shaping; then --dim, --normalize
and --precision apply to the pooled vector as they would to any row. So with --normalize the pooled vector is the
mean of the chunk vectors, scaled to length 1.

Memory: one document's text, and the chunks of one window of batches, at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from embedcli.backends.base import Backend
from embedcli.embed.chunking import ChunkOptions, Pool, TokenSplitter
from embedcli.embed.pipeline import EmbeddingRun, EmbedReport, EmbedSettings
from embedcli.embed.request import EmbedOutcome, EmbedRequest
from embedcli.errors import InputError, UsageError
from embedcli.formats import OutputFormat
from embedcli.formats.text_inputs import RecordReader
from embedcli.precision import Precision
from embedcli.provenance import Provenance
from embedcli.records import EmbeddedBatch, KeptRecord, Record, columns_of

# The columns chunk rows (and pooled rows) have of their own: a kept input column may not take these names.
CHUNK_COLUMNS = ("doc_id", "chunk", "start", "end", "chunks")


@dataclass
class ChunkSummary:
    """What chunking did: documents read, chunks embedded, chunks that had to end inside a very long word."""

    documents: int = 0
    chunks: int = 0
    cut_words: int = 0
    pooled: bool = False  # rows are documents (pooled from their chunks), not chunks


class ChunkedRun:
    """Embeds documents chunk by chunk with `backend`. Iterate `batches()`; `run` holds the report and provenance.

    Rows carry their document's values of the `kept` columns (`--keep-columns`). Raises UsageError when the
    backend has no fast tokenizer, or when a chunk (with the model's special tokens and the prompt) would not fit
    the model's length limit.
    """

    def __init__(
        self, backend: Backend, settings: EmbedSettings, options: ChunkOptions, kept: Sequence[str] = ()
    ) -> None:
        tokenizer = backend.tokenizer
        if tokenizer is None:
            raise UsageError(
                f"--chunk cuts by the model's tokens, and the {backend.name} backend has no fast tokenizer",
                hint="use a transformer model (sentence-transformers, transformers or onnx backend)",
            )
        self.options = options
        self.kept = tuple(kept)
        self.splitter = TokenSplitter(tokenizer, options)
        self._check_fits(backend)
        self.run = EmbeddingRun(backend, settings)
        # Pooled: chunks are embedded as the model gives them; the pooled vector gets embed's shaping once.
        raw = replace(settings, normalize=False, dim=None, precision=Precision.float32)
        self.chunk_run = EmbeddingRun(backend, raw) if options.pool is not None else self.run
        self.summary = ChunkSummary(pooled=options.pool is not None)
        # Progress through documents read whole: their sizes (by id), given by the reader, and the bytes embedded.
        self.sizes: dict[str, int] = {}
        self.bytes_embedded = 0
        self._bytes_before = 0

    def _check_fits(self, backend: Backend) -> None:
        limit = backend.max_length
        prompt = backend.options.prompt
        extra = self.splitter.special_tokens() + (self.splitter.count(prompt) if prompt else 0)
        if limit is not None and self.options.size + extra > limit:
            raise UsageError(
                f"--chunk {self.options.size} does not fit model '{backend.model.name}': it reads {limit} tokens, "
                f"{extra} of them taken by its special tokens{' and the prompt' if prompt else ''}",
                hint=f"pass --chunk {limit - extra} or less",
            )

    @property
    def report(self) -> EmbedReport:
        return self.run.report

    def chunking(self) -> dict[str, int | str]:
        """The chunking as recorded in the provenance: `chunk`, `overlap` and (pooled) `pool`."""
        chunking: dict[str, int | str] = {"chunk": self.options.size, "overlap": self.options.overlap}
        if self.options.pool is not None:
            chunking["pool"] = self.options.pool.value
        return chunking

    def provenance(self) -> Provenance:
        """The run's provenance with the chunking recorded (`chunking`)."""
        return Provenance.from_dict({**self.run.provenance().to_dict(), "chunking": self.chunking()})

    def records(self, documents: Iterable[Record], spans: deque[ChunkRow] | None = None) -> Iterator[Record]:
        """The chunks of `documents` as records, each one's row facts appended to `spans` (when given) as it is
        taken; the caller pops them as their vectors come back."""
        for document in documents:
            self.summary.documents += 1
            found = list(self.splitter.spans(document.text))  # a few thousand for a long novel
            self.summary.cut_words = self.splitter.cut_words
            for span in found:
                if spans is not None:
                    spans.append(ChunkRow(document, span.number, len(found), span.start, span.end))
                yield Record(f"{document.id}#{span.number}", document.text[span.start : span.end])

    def kept_records(self, documents: Iterable[Record]) -> Iterator[KeptRecord]:
        """The chunks of `documents` as records that carry their `doc_id`, `chunk`, `start` and `end`, then their
        document's kept columns (for a store)."""
        spans: deque[ChunkRow] = deque()
        for record in self.records(documents, spans):
            row = spans.popleft()
            columns = {"doc_id": row.document.id, "chunk": row.number, "start": row.start, "end": row.end}
            yield KeptRecord(record.id, record.text, {**columns, **self._kept_row(row.document)})

    def batches(
        self, documents: Iterable[Record], on_progress: Callable[[EmbedReport], None] | None = None
    ) -> Iterator[EmbeddedBatch]:
        """One row per chunk, or (with a pool) one per document, in input order."""
        if self.options.pool is not None:
            yield from self._pooled(documents, self.options.pool, on_progress)
            return
        spans: deque[ChunkRow] = deque()
        for batch in self.run.batches(self.records(documents, spans), on_progress):
            rows = [spans.popleft() for _ in batch.ids]
            for row in rows:
                self._advance(row)
            self.summary.chunks += len(rows)
            batch.columns = {
                "doc_id": [r.document.id for r in rows],
                "chunk": [r.number for r in rows],
                "start": [r.start for r in rows],
                "end": [r.end for r in rows],
                **self._kept_of([r.document for r in rows]),
            }
            yield batch

    def _kept_row(self, document: Record) -> dict[str, object]:
        """The `kept` columns' values of `document` (None where it has none)."""
        values = columns_of(document) or {}
        return {name: values.get(name) for name in self.kept}

    def _kept_of(self, documents: Sequence[Record]) -> dict[str, list[object]]:
        """The `kept` columns' values of `documents` by column, one per document."""
        rows = [self._kept_row(d) for d in documents]
        return {name: [row[name] for row in rows] for name in self.kept}

    def _advance(self, chunk: ChunkRow) -> None:
        """Count the share of a whole-read document's bytes that its chunks up to `chunk` cover."""
        size = self.sizes.get(chunk.document.id)
        if size is None:
            return
        self.bytes_embedded = self._bytes_before + size * chunk.end // max(len(chunk.document.text), 1)
        if chunk.number == chunk.of:
            self._bytes_before += size
            self.bytes_embedded = self._bytes_before

    def _pooled(
        self, documents: Iterable[Record], pool: Pool, on_progress: Callable[[EmbedReport], None] | None
    ) -> Iterator[EmbeddedBatch]:
        spans: deque[ChunkRow] = deque()
        held: list[np.ndarray] = []  # the chunk vectors of the document being pooled
        self.run.start_clock()  # the documents' time includes embedding their chunks
        for batch in self.chunk_run.batches(self.records(documents, spans)):
            ids, texts, vectors, counts, pooled = [], [], [], [], []
            for row in batch.vectors:
                chunk = spans.popleft()
                self._advance(chunk)
                held.append(row)
                self.summary.chunks += 1
                if chunk.number == chunk.of:  # the document's last chunk: pool them
                    ids.append(chunk.document.id)
                    texts.append(chunk.document.text)
                    vectors.append(pool_vectors(np.stack(held), pool))
                    counts.append(chunk.of)
                    pooled.append(chunk.document)
                    held = []
            if ids:
                shaped = self.run.shaped(ids, np.stack(vectors))
                self.run.report.truncated = self.run.backend.truncated
                if on_progress is not None:
                    on_progress(self.run.report)
                yield EmbeddedBatch(ids, texts, shaped.vectors, {"chunks": counts, **self._kept_of(pooled)})
        self.run.report.notes = self.run.backend.notes()


class ChunkRow(NamedTuple):
    """A chunk in flight: its document, its number (from 1) of `of`, and its character span."""

    document: Record
    number: int
    of: int
    start: int
    end: int


def pool_vectors(vectors: np.ndarray, pool: Pool) -> np.ndarray:
    """One vector from a (chunks, width) float32 array: the mean (accumulated in float64), max or first row."""
    if pool is Pool.mean:
        return vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
    if pool is Pool.max:
        return vectors.max(axis=0)
    return vectors[0]


__all__ = ["ChunkSummary", "ChunkedRun", "pool_vectors"]


def embed_chunked(
    request: EmbedRequest,
    backend: Backend,
    inputs: RecordReader,
    on_progress: Callable[[int, int], None] | None = None,
) -> EmbedOutcome:
    """Run `request` (its `chunking` set) with `backend` loaded: read documents from the (local) paths of `inputs`,
    named by its labels, chunk, embed, write one output.

    Raises UsageError for outputs that cannot hold chunk rows (NPY without --pool: ids and spans would be lost;
    a store with --pool), for a kept column named like a chunk row's own, and InputError when there is no text.
    """
    from embedcli.embed.into_store import embed_into_store
    from embedcli.formats.outputs import open_vector_writer
    from embedcli.formats.remote import staged
    from embedcli.formats.whole_texts import WholeTexts

    options = request.chunking
    assert options is not None
    fmt = request.output_format
    kept = request.fields.keep_columns
    taken = [name for name in kept if name in CHUNK_COLUMNS]
    if taken:
        raise UsageError(
            f"--keep-columns: '{taken[0]}' is a column --chunk writes itself",
            hint=f"chunk rows already have {', '.join(CHUNK_COLUMNS[:4])} (pooled rows: chunks); keep other columns",
        )
    if fmt is OutputFormat.npy and options.pool is None:
        raise UsageError(
            "chunk rows carry a document id and a character span, which an .npy matrix cannot hold",
            hint="write -o NAME.parquet, .arrow or .jsonl (or a .lance store), or pool them with --pool mean",
        )
    if fmt is OutputFormat.lance and options.pool is not None:
        raise UsageError("--pool writes a vector file, not a store", hint="write -o NAME.parquet, or drop --pool")
    documents = WholeTexts(
        inputs.paths,
        labels=inputs.labels,
        texts=list(request.texts),
        decoding=request.decoding,
        fields=request.fields,
        input_format=request.input_format,
        glob=request.glob,
    )
    chunked = ChunkedRun(backend, request.settings, options, kept)
    chunked.sizes = documents.sizes

    def progress(report: EmbedReport) -> None:
        if on_progress is not None:
            on_progress(documents.bytes_read + chunked.bytes_embedded, report.count)

    if fmt is OutputFormat.lance:
        from embedcli.formats.lance_store import CHUNK_FIELDS

        assert request.target is not None
        stored = embed_into_store(
            request.target,
            chunked.run,
            chunked.kept_records(documents),
            request.keep_text,
            request.store,
            lambda n: on_progress(documents.bytes_read, n) if on_progress is not None else None,
            recorded={"chunking": chunked.chunking()},
            columns=CHUNK_FIELDS,
            kept=kept,
        )
        chunked.summary.chunks = stored.summary.new + stored.summary.changed + stored.summary.unchanged
        if not chunked.summary.chunks:
            raise InputError(f"no text to embed ({documents.skipped_blank:,} blank documents skipped)")
        chunked.run.report.count = stored.summary.embedded
        chunked.run.report.seconds = stored.summary.seconds
        return EmbedOutcome(
            chunked.run.report,
            stored.provenance,
            chunked.run.dimension,
            documents.skipped_blank,
            stored,
            replaced=documents.replaced,
            skipped_files=documents.skipped_files,
            chunks=chunked.summary,
        )
    batches = chunked.batches(documents, progress)
    first = next(batches, None)  # before the writer: an input with no text leaves no output behind
    if first is None:
        raise InputError(f"no text to embed ({documents.skipped_blank:,} blank documents skipped)")
    with (
        staged(request.target) as target,
        open_vector_writer(target, fmt, chunked.provenance(), request.keep_text) as writer,
    ):
        writer.write(first)
        for batch in batches:
            writer.write(batch)
    return EmbedOutcome(
        chunked.run.report,
        chunked.provenance(),
        chunked.run.dimension,
        documents.skipped_blank,
        replaced=documents.replaced,
        skipped_files=documents.skipped_files,
        chunks=chunked.summary,
    )
