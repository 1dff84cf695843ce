"""Model files that ship inside registry packages: find them, and join split ones safely.

Shared by the speech and language model registries. A split file is joined into a temporary file
beside its target and gets its final name only after its SHA-256 matched (``os.replace`` is
atomic), so a crash or a concurrent process never leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


class ChecksumMismatch(Exception):
    """The joined bytes are not the pinned file."""


def package_dir(module: str) -> Path | None:
    """Where an installed top-level package lives, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def join_verified(
    parts: Sequence[Path],
    target: Path,
    sha256: str,
    on_progress: Callable[[float], None] | None = None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Concatenate ``parts`` into ``target`` if the result has the pinned ``sha256``.

    ``check`` may inspect the verified file before it gets its name (and raise to refuse it).
    Raises :class:`ChecksumMismatch`; neither the target nor a temporary file is left then.
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
    return target
