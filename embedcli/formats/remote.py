"""Remote paths (`s3://`, `gs://`, any fsspec protocol) for inputs and sharded outputs.

Credentials come from the environment only (AWS_* / GOOGLE_* variables, the provider's usual config files); nothing
here takes a key. Remote inputs are copied to a local temporary folder and read by the ordinary readers, so every
input format works remotely. Remote objects are written whole (an object store PUT is atomic), so a reader never
sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from embedcli.errors import UsageError
from embedcli.formats import Kind, format_of


def is_remote(path: str) -> bool:
    """True for a URL with a protocol other than file:// (s3://bucket/key, gs://..., memory://...)."""
    return "://" in path and not path.startswith("file://")


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec filesystem serving `path` and the path as that filesystem spells it.

    Raises UsageError when the protocol's package is not installed (e.g. s3fs for s3://).
    """
    import fsspec

    try:
        return fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        protocol = path.split("://", 1)[0]
        raise UsageError(
            f"cannot open {protocol}:// paths: {exc}", hint="install the filesystem package (s3fs, gcsfs, ...)"
        ) from None


def join(folder: str, name: str) -> str:
    """`folder/name` for local folders and URLs alike."""
    return folder.rstrip("/") + "/" + name if is_remote(folder) else os.path.join(folder, name)


def expand_inputs(paths: Iterable[str]) -> list[str]:
    """Input paths with remote folders and globs listed (sorted), local paths unchanged.

    A remote folder yields the text inputs under it (by suffix). Raises UsageError when a remote path matches
    nothing.
    """
    expanded: list[str] = []
    for path in paths:
        if not is_remote(path):
            expanded.append(path)
            continue
        fs, inner = filesystem(path)
        if any(c in inner for c in "*?["):
            found = sorted(fs.glob(inner))
        elif fs.isdir(inner):
            found = sorted(p for p in fs.find(inner) if _is_text_input(p))
        elif fs.exists(inner):
            found = [inner]
        else:
            found = []
        if not found:
            raise UsageError(f"no such input: {path}")
        expanded += [fs.unstrip_protocol(p) for p in found]
    return expanded


def remote_vector_files(path: str) -> list[str]:
    """The vector files a URL names: a file as itself; a folder as the vector files directly under it and a glob as
    its matches (sorted). Raises UsageError when a folder or glob holds none (a missing file is left to the opener).
    """
    fs, inner = filesystem(path)
    if any(c in inner for c in "*?["):
        found = sorted(fs.glob(inner))
    elif fs.isdir(inner):
        found = sorted(fs.ls(inner, detail=False))
    else:
        return [path]
    vectors = [fs.unstrip_protocol(p) for p in found if format_of(p, Kind.vectors) is not None]
    if not vectors:
        raise UsageError(f"no vector files in '{path}'")
    return vectors


def size(path: str) -> int:
    """The size in bytes of a local or remote file."""
    if not is_remote(path):
        return os.path.getsize(path)
    fs, inner = filesystem(path)
    return int(fs.info(inner).get("size") or 0)


def _is_text_input(path: str) -> bool:
    # A folder may hold markers and other files: only names with a text-input suffix are inputs.
    return format_of(path, Kind.text_input) is not None


def fetch(path: str, directory: str) -> str:
    """Copy the remote `path` into the local `directory`, keeping its name (the suffix tells its format)."""
    fs, inner = filesystem(path)
    local = os.path.join(directory, f"{abs(hash(path)) % 10**8:08d}-{os.path.basename(inner)}")
    fs.get(inner, local)
    return local


def fetch_inputs(paths: list[str], directory: str) -> tuple[list[str], list[str]]:
    """The inputs to read locally and the names they go by: remote folders and globs listed, remote files copied
    into `directory` (named by their URLs), local paths and `-` unchanged. Raises UsageError when a remote path
    matches nothing."""
    named = expand_inputs(paths)
    return [fetch(p, directory) if is_remote(p) else p for p in named], named


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """The remote file `path` copied to `$TMPDIR/embedcli-<pid>-<random>.part` for readers that must seek (Parquet,
    NPY, Arrow files) and memory maps; removed on the way out, and swept by the next run if this one is killed
    (`outputs.sweep_stale`), like the stdin spool. Raises UsageError when `path` does not exist or is a folder."""
    from embedcli.formats.outputs import temp_spool

    fs, inner = filesystem(path)
    try:
        if fs.isdir(inner):
            raise UsageError(f"{path}: is a folder, not a vector file", hint="name one file of it")
        if not fs.exists(inner):
            raise UsageError(f"no such input: {path}")
    except (PermissionError, OSError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    with temp_spool() as local:
        try:
            fs.get_file(inner, local)
        except (PermissionError, OSError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        yield local


def fingerprint(path: str) -> dict[str, Any]:
    """What identifies an input's content cheaply: its size and its mtime or ETag (no read of the data)."""
    if not is_remote(path):
        stat = os.stat(path)
        return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    fs, inner = filesystem(path)
    meta = fs.info(inner)
    tag = meta.get("ETag") or meta.get("etag") or meta.get("md5Hash") or meta.get("LastModified")
    return {"path": path, "size": int(meta.get("size") or 0), "etag": str(tag) if tag is not None else None}


def read_text(path: str) -> str | None:
    """The text of a local or remote file, or None when it does not exist."""
    if not is_remote(path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None
    fs, inner = filesystem(path)
    try:
        return str(fs.cat_file(inner).decode("utf-8"))
    except FileNotFoundError:
        return None


def write_text(path: str, text: str) -> None:
    """Write a small text file whole: local files through a temporary file and a rename, remote ones in one PUT."""
    if is_remote(path):
        fs, inner = filesystem(path)
        fs.pipe_file(inner, text.encode("utf-8"))
        return
    from embedcli.formats.outputs import write_atomically

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(text.encode("utf-8"), path, ".json")


def put_file(local: str, path: str) -> None:
    """Upload the finished local file to `path` in one PUT. Raises OutputError naming `path` when it fails (no
    such bucket, no permission, the service unreachable)."""
    from embedcli.formats.outputs import OutputError

    fs, inner = filesystem(path)
    try:
        fs.put_file(local, inner)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OutputError(f"cannot write {path}: {reason[:200]}") from None


@contextlib.contextmanager
def staged(target: str | None) -> Iterator[str | None]:
    """The path to write `target`'s content to: `target` itself when it is local (or None, stdout); for a URL, a
    local file uploaded in one PUT when the block ends without error.

    An object store shows an object only once its PUT completes, so the remote `target` appears whole or not at
    all; on failure or Ctrl-C nothing is uploaded and the local copy goes. The local name keeps the target's name
    (its suffix tells writers the format).
    """
    if target is None or not is_remote(target):
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="embedcli-upload-") as folder:
        local = os.path.join(folder, os.path.basename(filesystem(target)[1].rstrip("/")) or "output")
        yield local
        put_file(local, target)


def remove(path: str) -> None:
    """Delete a file if it exists (local or remote)."""
    if is_remote(path):
        fs, inner = filesystem(path)
        if fs.exists(inner):
            fs.rm_file(inner)
    elif os.path.exists(path):
        os.unlink(path)


def list_names(folder: str) -> list[str]:
    """The names of the files directly in `folder` (empty when it does not exist)."""
    if not is_remote(folder):
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    fs, inner = filesystem(folder)
    try:
        return sorted(os.path.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False, refresh=True))
    except FileNotFoundError:
        return []


def make_folder(folder: str) -> None:
    """Create a local folder (with parents); object stores need none."""
    if not is_remote(folder):
        os.makedirs(folder, exist_ok=True)
