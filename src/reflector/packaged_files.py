"""Model files that ship inside registry packages: find them, check them, join split ones safely.

Shared by every engine that loads a bundled model. Packages are located without being imported
(their ``__init__`` may pull in code we never use). Each model file is checked against a pinned
SHA-256 before its first use in a process. Hashing runs at about 600 MB/s (0.75 s for the
491 MB summary model), so a verified (path, size, modification time) is also remembered in a
small record in the data dir and not hashed again by later processes.

A split file is joined into a temporary file beside its target and gets its final name only after
its SHA-256 matched (``os.replace`` is atomic), so a crash or a concurrent process never leaves
half a model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sysconfig
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reflector.errors import UnavailableError

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``reflector models``: a packaged model, whether it is usable, and where."""

    name: str
    description: str
    packages: tuple[str, ...]
    installed: bool
    path: Path | None
    note: str
    licence: str = ""
    """Licence of the model weights, as their source package states it."""


class ChecksumMismatch(UnavailableError):
    """A model file (or joined parts) is not the pinned file; the message names it."""


def package_dir(module: str) -> Path | None:
    """Where an installed top-level package lives, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def shared_model_dir() -> Path:
    """Model files taken out of packages at install time: ``<environment>/share/reflector/models``.

    ``scripts/install.sh`` extracts files there whose packages are not installed whole (their
    dependencies are not needed); it is the environment's data folder, so it moves with it.
    """
    return Path(sysconfig.get_path("data")) / "share" / "reflector" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verification_record(data_dir: Path) -> Path:
    """Where the data dir remembers model files that already passed their check."""
    return data_dir / "models" / "verified.json"


_FileKey = tuple[str, int, int]
_verified_in_process: dict[_FileKey, str] = {}
_verified_lock = threading.Lock()


def _file_key(path: Path) -> _FileKey:
    # A file rewritten in place gets a new size or modification time, so it is hashed again.
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _read_record(record: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded(record: Path, key: _FileKey) -> str | None:
    entry = _read_record(record).get(key[0])
    if not isinstance(entry, dict):
        return None
    if entry.get("size") != key[1] or entry.get("mtime_ns") != key[2]:
        return None
    sha256 = entry.get("sha256")
    return sha256 if isinstance(sha256, str) else None


def _remember(record: Path, key: _FileKey, sha256: str) -> None:
    """Add ``key`` to the record; a record that cannot be written only costs a later re-hash."""
    entries = _read_record(record)
    entries[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": sha256}
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=f".{record.name}-", dir=record.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(entries, out, indent=1, sort_keys=True)
        os.replace(staging, record)  # readers see the old record or the new one, never half
    except OSError:
        pass
    finally:
        Path(staging).unlink(missing_ok=True)


def remember_verified(path: Path, sha256: str, record: Path | None = None) -> None:
    """Note that ``path`` has ``sha256`` (just computed by the caller), so it is not re-hashed."""
    key = _file_key(path)
    with _verified_lock:
        _verified_in_process[key] = sha256
    if record is not None:
        _remember(record, key, sha256)


def verify_file(path: Path, sha256: str, remedy: str, record: Path | None = None) -> None:
    """Raise :class:`ChecksumMismatch` unless ``path`` has the pinned ``sha256``.

    Hashed at most once per process for each version of the file, and, when ``record`` is given
    (see :func:`verification_record`), once per install. ``remedy`` ends the error message
    (e.g. which package to reinstall).
    """
    key = _file_key(path)
    with _verified_lock:
        if _verified_in_process.get(key) == sha256:
            return
    if record is not None and _recorded(record, key) == sha256:
        with _verified_lock:
            _verified_in_process[key] = sha256
        return
    if sha256_file(path) != sha256:
        raise ChecksumMismatch(
            f"model file {path} is damaged or was changed: its SHA-256 is not the pinned one; "
            f"{remedy}"
        )
    remember_verified(path, sha256, record)


def join_verified(
    parts: Sequence[Path],
    target: Path,
    sha256: str,
    on_progress: Callable[[float], None] | None = None,
    check: Callable[[Path], None] | None = None,
    record: Path | None = None,
) -> Path:
    """Concatenate ``parts`` into ``target`` if the result has the pinned ``sha256``.

    ``check`` may inspect the verified file before it gets its name (and raise to refuse it).
    Raises :class:`ChecksumMismatch`; neither the target nor a temporary file is left then.
    The joined file counts as verified (see :func:`verify_file`), in ``record`` too if given.
    """
    total = sum(part.stat().st_size for part in parts) or 1
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging_name = tempfile.mkstemp(
        prefix=f".{target.name}-", suffix=".part", dir=target.parent
    )
    staging = Path(staging_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        if on_progress:
                            on_progress(min(1.0, written / total))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ChecksumMismatch(f"{target.name}: SHA-256 {digest.hexdigest()} != {sha256}")
        if check:
            check(staging)
        staging.chmod(0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    remember_verified(target, sha256, record)
    return target
