"""Blobs as files under one directory: the embedded default, no server needed.

File IO runs in worker threads so a slow disk never stalls the event loop. Every write goes to a
hidden temporary file beside the target and is then renamed over it (``os.replace`` is atomic on
one file system), so a reader or a crash never sees half a blob.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from .keys import validate_key, validate_prefix
from .protocol import BlobError, BlobInfo, BlobNotFound, BlobStoreFull
from .ranges import check_range_args, clamp_range

_PARTIAL_SUFFIX = ".reflector-partial"
"""Marks a write in progress; such files are never counted as blobs."""

_COPY_BUFFER = 1024 * 1024

# What opening a key that is not a regular file raises: missing, a directory, or a "directory"
# in the key that is really a file.
_NOT_A_BLOB = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _discard(path: Path) -> None:
    """Remove a temporary file if it is there; never mask the error being handled."""
    with contextlib.suppress(OSError):
        path.unlink()


class LocalBlobStore:
    """Blobs as files under ``root``; key ``a/b.mp3`` is the file ``root/a/b.mp3``.

    ``content_type`` is accepted for compatibility with S3 and ignored: whoever serves a file
    guesses its type from the extension. There are no pre-signed URLs here; the API signs its
    own download links for this store.
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _error(self, action: str, key: str, exc: OSError) -> BlobError:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            # S3 allows both ``a/b`` and ``a/b/c``; a file system cannot.
            reason = "part of the key is already a blob, so it cannot also be a folder"
        elif isinstance(exc, IsADirectoryError):
            reason = "other blobs are stored under this key as a folder"
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return BlobStoreFull(
                f"local blob store at {self.root}: cannot {action} {key!r}: the disk is full"
            )
        return BlobError(f"local blob store at {self.root}: cannot {action} {key!r}: {reason}")

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        target = self._path(key)

        def copy() -> int:
            # Opened before the write starts so a missing source is the caller's
            # FileNotFoundError, not a storage failure.
            with open(path, "rb") as source:
                return self._write_atomically(
                    key, target, lambda out: shutil.copyfileobj(source, out, _COPY_BUFFER)
                )

        return BlobInfo(key, await asyncio.to_thread(copy))

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        target = self._path(key)
        size = await asyncio.to_thread(
            self._write_atomically, key, target, lambda out: out.write(data)
        )
        return BlobInfo(key, size)

    def _write_atomically(self, key: str, target: Path, fill: Callable[[BinaryIO], object]) -> int:
        """Write via a temporary file beside ``target``, then rename it into place."""
        partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}{_PARTIAL_SUFFIX}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "xb") as out:
                fill(out)
                out.flush()
                # Without fsync a power cut after the rename can leave an empty file under the
                # new name, and a pipeline stage would be recorded as done with no output.
                os.fsync(out.fileno())
                size = out.tell()
            os.replace(partial, target)
        except OSError as exc:
            raise self._error("write", key, exc) from None
        finally:
            _discard(partial)  # gone already after a successful rename
        return size

    def _open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except _NOT_A_BLOB:
            raise BlobNotFound(f"no blob {key!r} in local store at {self.root}") from None
        except OSError as exc:
            raise self._error("read", key, exc) from None

    async def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            with self._open(key) as source:
                try:
                    return source.read()
                except OSError as exc:
                    raise self._error("read", key, exc) from None

        return await asyncio.to_thread(read)

    async def download(self, key: str, path: Path) -> Path:
        destination = Path(path)

        def copy() -> None:
            with self._open(key) as source:
                partial = destination.with_name(
                    f".{destination.name}.{secrets.token_hex(6)}{_PARTIAL_SUFFIX}"
                )
                try:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with open(partial, "xb") as out:
                        shutil.copyfileobj(source, out, _COPY_BUFFER)
                    os.replace(partial, destination)
                finally:
                    _discard(partial)

        await asyncio.to_thread(copy)
        return destination

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        check_range_args(start, end, chunk_size)
        source = await asyncio.to_thread(self._open, key)
        try:
            # The open descriptor pins this version of the file: an overwrite renames a new
            # file into place and never changes the bytes being streamed here.
            fd = source.fileno()
            span = clamp_range(key, start, end, os.fstat(fd).st_size)
            if span is None:
                return
            position, last = span
            while position <= last:
                size = min(chunk_size, last - position + 1)
                try:
                    chunk = await asyncio.to_thread(os.pread, fd, size, position)
                except OSError as exc:
                    raise self._error("read", key, exc) from None
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            source.close()

    async def stat(self, key: str) -> BlobInfo | None:
        path = self._path(key)

        def size() -> int | None:
            try:
                info = path.stat()
            except _NOT_A_BLOB:
                return None
            except OSError as exc:
                raise self._error("stat", key, exc) from None
            return info.st_size if path.is_file() else None

        found = await asyncio.to_thread(size)
        return None if found is None else BlobInfo(key, found)

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            try:
                path.unlink()
            except _NOT_A_BLOB:
                return
            except OSError as exc:
                raise self._error("delete", key, exc) from None

        await asyncio.to_thread(remove)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        return await asyncio.to_thread(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        # Only the directory that holds the prefix's last part can contain matches.
        parent_key = prefix.rpartition("/")[0]
        base = self.root.joinpath(*parent_key.split("/")) if parent_key else self.root
        if not base.is_dir():
            return 0
        removed = 0
        emptied: list[Path] = []
        try:
            for dirpath, dirnames, filenames in os.walk(base):
                rel = Path(dirpath).relative_to(self.root).as_posix()
                dir_prefix = "" if rel == "." else f"{rel}/"
                if dir_prefix and dir_prefix.startswith(prefix):
                    emptied.append(Path(dirpath))
                # Skip subtrees whose keys cannot start with the prefix.
                dirnames[:] = [
                    name
                    for name in dirnames
                    if f"{dir_prefix}{name}/".startswith(prefix)
                    or prefix.startswith(f"{dir_prefix}{name}/")
                ]
                for name in filenames:
                    if not f"{dir_prefix}{name}".startswith(prefix):
                        continue
                    (Path(dirpath) / name).unlink(missing_ok=True)
                    if not name.endswith(_PARTIAL_SUFFIX):
                        removed += 1
            # Deepest first, so parents are empty by the time they are tried. A directory that
            # a concurrent write just filled stays, which is what that writer wants.
            for directory in reversed(emptied):
                with contextlib.suppress(OSError):
                    directory.rmdir()
        except OSError as exc:
            raise self._error("delete", prefix, exc) from None
        return removed

    async def check(self) -> None:
        def probe() -> None:
            probe_path = self.root / f".probe.{secrets.token_hex(6)}{_PARTIAL_SUFFIX}"
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe_path.write_bytes(b"")
                probe_path.unlink()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                message = f"local blob store at {self.root} is not writable: {reason}"
                raise BlobError(message) from None

        await asyncio.to_thread(probe)
