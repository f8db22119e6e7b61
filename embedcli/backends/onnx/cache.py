"""The export cache: model exports stored once under `EMBEDCLI_CACHE`, found again by key, trusted only when intact.

An entry is a folder `<root>/onnx/<key>/` holding the exported files and `manifest.json`, which records what the
entry is (model, options) and a CRC-32 and size per file. Entries are built in a temporary folder beside the
final one and renamed into place, under a file lock per key, so a reader never sees half an entry and two
processes exporting the same model at once produce one entry. An entry whose files no longer match their
checksums is treated as absent and rebuilt.

A model that cannot be exported faithfully leaves a marker `<root>/onnx/<key>.failed` (JSON: model, reason), so
the auto backend does not try again on every run; `embedcli models --export NAME` and `--clear` remove it.

The key is the hash of the model's files plus the export options. Hashing a 90 MB model costs ~0.15 s, so the
content hash is remembered per model folder by the files' (path, size, mtime) fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedcli.errors import ModelError

MANIFEST = "manifest.json"
_EXPORTS = "onnx"
_HASHES = "model-hashes.json"
_FAILED = ".failed"
_CHUNK = 1 << 20
# Files in a model folder that do not change what the model computes.
_IGNORED = {".gitattributes", "README.md", ".DS_Store"}
# Staging and discarded folders carry the pid of the process that made them: `.<key>.embedcli-<pid>-<random>.tmp`
# and `.<key>.embedcli-<pid>-old`. One whose process is gone was left by a killed run and is removed.
_LEFTOVER = re.compile(r"^\..*\.embedcli-(\d+)-[A-Za-z0-9_]*(?:\.tmp|old)$")


def cache_root() -> Path:
    """`EMBEDCLI_CACHE`, else `$XDG_CACHE_HOME/embedcli`, else `~/.cache/embedcli`."""
    if explicit := os.environ.get("EMBEDCLI_CACHE"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "embedcli"


def exports_dir() -> Path:
    return cache_root() / _EXPORTS


@dataclass(frozen=True)
class CacheEntry:
    """One stored export: its folder and its manifest (`model`, `options`, `files`, `created`, ...)."""

    key: str
    path: Path
    manifest: dict[str, Any]

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.manifest.get("files", {}).values())

    def file(self, name: str) -> Path:
        return self.path / name


def entry_key(content_hash: str, options: dict[str, Any]) -> str:
    """The cache key of a model (by content) exported with `options` (a JSON-able dict)."""
    blob = json.dumps({"model": content_hash, "options": options}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def file_checksum(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


def _file_record(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"size": len(data), "crc32": file_checksum(data)}


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def verify_file(entry: CacheEntry, name: str, data: bytes | None = None) -> bytes | None:
    """The file's bytes when they match the manifest, else None. Pass `data` when it is already read."""
    record = entry.manifest["files"].get(name)
    if record is None:
        return None
    if data is None:
        try:
            data = entry.file(name).read_bytes()
        except OSError:
            return None
    if len(data) != record.get("size") or file_checksum(data) != record.get("crc32"):
        return None
    return data


def find_entry(key: str, verify: bool = True) -> CacheEntry | None:
    """The intact entry stored under `key`, or None (absent or damaged). `verify` checks every checksum."""
    folder = exports_dir() / key
    manifest = _read_manifest(folder)
    if manifest is None:
        return None
    entry = CacheEntry(key, folder, manifest)
    if verify and any(verify_file(entry, name) is None for name in manifest["files"]):
        return None
    return entry


def build_entry(key: str, build: Callable[[Path], dict[str, Any]], accept: Callable[[CacheEntry], bool]) -> CacheEntry:
    """Return the entry for `key`, building it with `build(folder)` unless another process already did.

    `build` writes files into the empty `folder` and returns the manifest fields to store (model, options...).
    `accept(entry)` says whether an existing entry can be used (it checks checksums). Holding a lock per key,
    a damaged entry is moved aside and rebuilt; the new one appears whole by a rename.
    """
    from filelock import FileLock

    root = exports_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f"{key}.lock")):
            remove_leftovers(root)
            return _build_locked(root, key, build, accept)
    except OSError as exc:
        cache, name = str(cache_root()), str(exc.filename)
        if exc.filename is None or not (name.startswith(cache) or cache.startswith(name)):
            raise
        raise ModelError(
            f"cannot write the export cache '{root}': {os.strerror(exc.errno) if exc.errno else exc}",
            hint="point EMBEDCLI_CACHE at a writable folder",
        ) from None


def _build_locked(
    root: Path, key: str, build: Callable[[Path], dict[str, Any]], accept: Callable[[CacheEntry], bool]
) -> CacheEntry:
    existing = find_entry(key, verify=False)
    if existing is not None and accept(existing):
        return existing
    final = root / key
    if final.exists():
        _discard(final)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.embedcli-{os.getpid()}-", suffix=".tmp", dir=root))
    try:
        fields = build(staging)
        files = {p.name: _file_record(p) for p in sorted(staging.iterdir()) if p.is_file() and p.name != MANIFEST}
        manifest = {**fields, "key": key, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        manifest["files"] = files
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CacheEntry(key, final, manifest)


def failure_marker(key: str) -> Path:
    """Where a failed export of `key` is remembered."""
    return exports_dir() / f"{key}{_FAILED}"


def remember_failure(key: str, model: str, reason: str) -> None:
    """Record that `key` cannot be exported (best effort: a read-only cache only costs a retry next run)."""
    record = {"model": model, "reason": reason, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _write_json_atomic(failure_marker(key), record)


def recorded_failure(key: str) -> str | None:
    """The reason a past export of `key` failed, or None when none is remembered."""
    reason = _read_json(failure_marker(key)).get("reason")
    return str(reason) if reason is not None else None


def forget_failure(key: str) -> None:
    failure_marker(key).unlink(missing_ok=True)


def discard_entry(key: str) -> None:
    """Remove the entry stored under `key`, if any, under its lock (the next export rebuilds it)."""
    from filelock import FileLock

    root = exports_dir()
    if not (root / key).is_dir():
        return
    with FileLock(str(root / f"{key}.lock")):
        if (root / key).is_dir():
            _discard(root / key)


def _discard(folder: Path) -> None:
    """Remove a folder: renamed aside first, so no reader finds it half deleted."""
    aside = folder.with_name(f".{folder.name}.embedcli-{os.getpid()}-old")
    os.rename(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(root: Path) -> int:
    """Remove staging and discarded folders left by killed runs (their pid is no longer alive); returns the bytes
    freed. Folders of live processes are never touched."""
    freed = 0
    if not root.is_dir():
        return 0
    for path in root.iterdir():
        match = _LEFTOVER.match(path.name)
        if match is None or not path.is_dir() or _pid_alive(int(match.group(1))):
            continue
        freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        shutil.rmtree(path, ignore_errors=True)
    return freed


def list_entries() -> list[CacheEntry]:
    """Every entry in the cache (not verified: listing must stay fast), oldest first."""
    root = exports_dir()
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            manifest = _read_manifest(folder)
            if manifest is not None:
                entries.append(CacheEntry(folder.name, folder, manifest))
    return sorted(entries, key=lambda e: str(e.manifest.get("created", "")))


def clear_cache() -> tuple[int, int]:
    """Remove every export, remembered failures and the staging folders left by killed runs; returns (entries
    removed, bytes freed). A staging folder of a live process (an export under way) is left alone."""
    root = exports_dir()
    if not root.is_dir():
        return 0, 0
    count = 0
    freed = remove_leftovers(root)
    for path in root.iterdir():
        if path.is_dir() and _LEFTOVER.match(path.name):
            continue  # a live process's: remove_leftovers took the dead ones
        if path.is_dir():
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            if not path.name.startswith("."):
                count += 1
            freed += size
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix in (".lock", _FAILED):
            path.unlink(missing_ok=True)
    return count, freed


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that define what it computes, in a stable order."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name not in _IGNORED
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def model_content_hash(folder: Path) -> str:
    """A SHA-256 over the model folder's files (relative names and bytes), remembered by their stat fingerprint."""
    files = model_files(folder)
    if not files:
        raise ModelError(f"model folder {folder} holds no files")
    stats = [(str(p.relative_to(folder)), p.stat()) for p in files]
    fingerprint = hashlib.sha256(
        json.dumps([(name, st.st_size, st.st_mtime_ns) for name, st in stats]).encode()
    ).hexdigest()
    memo_path = cache_root() / _HASHES
    memo = _read_json(memo_path)
    slot = f"{folder.resolve()}:{fingerprint}"
    if isinstance(memo.get(slot), str):
        return str(memo[slot])
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    value = digest.hexdigest()
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{folder.resolve()}:")}
    memo[slot] = value
    _write_json_atomic(memo_path, memo)
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # the memo only saves time; a read-only cache still works
