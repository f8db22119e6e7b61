"""The image and audio side of `embed`: which inputs are media, where they come from, and their embedded batches.

Inputs are judged by content (magic bytes), never by suffix: a folder is walked for images or sounds, files are
named one by one (arguments, globs, `--files -`), or a Parquet/JSONL column holds paths or bytes. Files are decoded
on a few threads, already turned into model input there (`prepare_images` / `prepare_audio`), while the model runs
on the previous batch. A bad file stops the run with one line naming it, or, with `skip_bad`, is left out and
listed in `rejected`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedcli.backends.base import Backend, Modality
from embedcli.backends.media_base import MediaBackend
from embedcli.embed.pipeline import EmbeddingRun
from embedcli.errors import InputError, ModelError, UsageError
from embedcli.formats import STDIO
from embedcli.formats.media import MediaKind, MediaSource, decode_audio, decode_batches, decode_image, sniff_file
from embedcli.formats.media_files import find_media, read_file_list, read_media_column
from embedcli.records import EmbeddedBatch

# The kind of input each built-in media backend takes (a CLIP model takes text too, but a folder means images).
BACKEND_KINDS = {
    "clip": MediaKind.image,
    "image": MediaKind.image,
    "audio": MediaKind.audio,
    "xvector": MediaKind.audio,
}


@dataclass(frozen=True)
class MediaOptions:
    """How `embed` finds and decodes images and sounds. `modality` None: judged from the inputs' content."""

    modality: Modality | None = None
    files_from: str | None = None  # "-" (stdin) or a file: one path a line
    image_column: str | None = None
    audio_column: str | None = None
    id_column: str | None = None
    skip_bad: bool = False  # --on-error skip: leave bad files out (listed), instead of stopping at the first
    rejects: str | None = None
    max_seconds: float | None = None
    workers: int = 2


@dataclass(frozen=True)
class MediaItem:
    """One input: its id (relative path, path as named, or table id), what to decode, and the name errors use."""

    id: str
    source: MediaSource
    label: str


@dataclass
class MediaInputs:
    """The items to embed, their kind, the files of walked folders left out (not media, or another kind), and the
    absolute folder the items' ids are relative to (None when they are no files: bytes from a table)."""

    items: list[MediaItem]
    kind: MediaKind
    skipped_files: int = 0
    root: str | None = None


def is_media_request(inputs: list[str], options: MediaOptions) -> bool:
    """True when `embed` reads images or sounds: forced by the options, or a folder holding media or a media file
    among the inputs. A folder with no image or sound in it is a folder of text documents (formats.documents)."""
    if options.modality is Modality.text:
        return False
    if options.modality is not None or options.files_from or options.image_column or options.audio_column:
        return True
    folders = [p for p in inputs if p != STDIO and os.path.isdir(p)]
    return any(_holds_media(f) for f in folders) or any(_is_media_file(p) for p in inputs if p != STDIO)


def media_inputs(inputs: list[str], options: MediaOptions, backend_name: str) -> MediaInputs:
    """The items `inputs` name, of the kind forced by `options.modality`, else the one `backend_name` takes.

    Raises InputError for a named file that is not media, a folder holding none, or nothing to embed at all.
    """
    forced = MediaKind(options.modality.value) if options.modality is not None else None
    kind = forced or BACKEND_KINDS.get(backend_name)
    column = options.image_column or options.audio_column
    if column is not None:
        kind = kind or (MediaKind.image if options.image_column else MediaKind.audio)
        flag = "--image-column" if options.image_column else "--audio-column"
        items = [
            MediaItem(
                id_, source, f"{path}: {options.id_column or 'row'} {id_}" if isinstance(source, bytes) else source
            )
            for path in inputs
            for id_, source in read_media_column(path, column, options.id_column, flag)
        ]
        # Paths in a column are used as written: relative to the working folder.
        on_disk = any(isinstance(item.source, str) for item in items)
        return MediaInputs(items, kind, root=os.path.abspath(os.curdir) if on_disk else None)
    named = list(inputs)
    if options.files_from is not None:
        named += _file_list(options.files_from)
    listing = find_media(named, kind)
    if not listing.files:
        _refuse_folders_without_media(named)
        raise InputError(
            f"no {kind.value if kind else 'image or audio'} files to embed in {', '.join(named) or 'the list'}"
        )
    kinds = listing.kinds
    if kind is None and len(kinds) > 1:
        raise UsageError("the inputs hold both images and sounds", hint="choose one with --modality image|audio")
    found = kind or next(iter(kinds))
    items = [MediaItem(f.id, f.path, os.fspath(f.path)) for f in listing.files]
    return MediaInputs(items, found, len(listing.skipped), listing.root)


def media_backend(backend: Backend, kind: MediaKind) -> MediaBackend:
    """`backend` as a media backend taking `kind`; ModelError (one line) when its model does not."""
    if not isinstance(backend, MediaBackend):
        raise ModelError(
            f"model '{backend.model.name}' embeds text, not {kind.value}s",
            hint="use a CLIP, image-encoder or audio-encoder folder saved with save_pretrained",
        )
    if Modality(kind.value) not in backend.modalities:
        takes = " and ".join(sorted(m.value for m in backend.modalities))
        raise ModelError(f"model '{backend.model.name}' embeds {takes}, not {kind.value}")
    return backend


def media_batches(
    run: EmbeddingRun,
    inputs: MediaInputs,
    options: MediaOptions,
    batch_size: int,
    rejected: list[tuple[str, str]],
) -> Iterator[EmbeddedBatch]:
    """Embedded batches of `inputs` in order; decoding runs on `options.workers` threads beside the model.

    With `skip_bad`, each bad file is appended to `rejected` as (label, reason) and left out.
    """
    backend = media_backend(run.backend, inputs.kind)
    decode: Callable[[MediaItem], Any]
    if inputs.kind is MediaKind.image:
        prepare: Callable[[list[Any]], Any] = backend.prepare_images

        def decode(item: MediaItem) -> Any:
            return decode_image(item.source, name=item.label)
    else:
        prepare = backend.prepare_audio
        rate, shortest = backend.sampling_rate, backend.min_samples
        assert rate is not None  # an audio backend knows its rate

        def decode(item: MediaItem) -> Any:
            return decode_audio(
                item.source, sampling_rate=rate, name=item.label, max_seconds=options.max_seconds, min_samples=shortest
            )

    def skip(position: int, item: MediaItem, error: InputError) -> None:
        rejected.append((item.label, str(error)))

    on_error = skip if options.skip_bad else None
    run.start_clock()
    for batch in decode_batches(
        inputs.items, decode, batch_size=batch_size, workers=options.workers, prepare=prepare, keep_items=False,
        on_error=on_error,
    ):  # fmt: skip
        if batch.indices:
            vectors = backend.embed_prepared(batch.prepared)
            yield run.shaped([inputs.items[i].id for i in batch.indices], vectors)


def embed_items(
    run: EmbeddingRun, inputs: MediaInputs, options: MediaOptions, batch_size: int, positions: list[int]
) -> Iterator[EmbeddedBatch]:
    """Embedded batches of the items at `positions` (in that order), decoded beside the model; a bad file raises."""
    subset = MediaInputs([inputs.items[p] for p in positions], inputs.kind, root=inputs.root)
    return media_batches(run, subset, options, batch_size, [])


def file_digest(source: MediaSource) -> str:
    """The 32-hex-digit BLAKE2b-128 digest of a file's bytes (or of the bytes themselves): a store re-embeds an
    image or sound only when this changes. Raises InputError naming an unreadable file."""
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest()
    try:
        with open(source, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{os.fspath(source)}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def write_rejects(path: str, rejected: list[tuple[str, str]]) -> None:
    """The skipped files, one a line: the file, a tab, the reason (written even when none was skipped)."""
    lines = "".join(f"{label}\t{reason.removeprefix(label + ': ')}\n" for label, reason in rejected)
    Path(path).write_text(lines, encoding="utf-8")


def _holds_media(folder: str) -> bool:
    """True at the first image or sound found in `folder` (hidden files and folders are not looked in)."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(_is_media_file(os.path.join(root, n)) for n in names if not n.startswith(".")):
            return True
    return False


def _is_media_file(path: str) -> bool:
    try:
        return os.path.isfile(path) and sniff_file(path) is not None
    except OSError:
        return False


def _file_list(source: str) -> list[str]:
    if source == STDIO:
        return list(read_file_list(sys.stdin))
    try:
        with open(source, encoding="utf-8") as handle:
            return list(read_file_list(handle))
    except OSError as exc:
        raise InputError(f"{source}: cannot read the file list ({exc.strerror or exc})") from None


def _refuse_folders_without_media(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path) and not find_media([path]).files:
            raise InputError(
                f"{path}: a folder with no image or audio files in it",
                hint="drop --modality (or pass --modality text) to embed its text documents, one vector per file",
            )
