"""Unfinished resumable uploads on the receiving server's disk, kept exact.

An upload is one file, ``<upload id>.part``, whose first ``received`` bytes (the counter in the
database) are the bytes accepted so far; anything after them is ignored and cut off. A chunk
is first streamed to a temp file of its own: an interrupted or refused chunk is deleted whole
and never touches the upload. A complete chunk is *committed* under an exclusive lock on the
upload: the file is cut to where the chunk starts, the chunk is appended and synced, and only
then does the caller store the new counter. A crash between the append and the counter leaves
extra bytes after ``received``, which the next commit (or ``complete``) cuts off.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from reflector.errors import BadInputError

_COPY_BUFFER = 1024 * 1024
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})
"""``copy_file_range`` errors that mean "copy it yourself" (another file system, an old kernel)."""


def _copy_into(source: int, target: int, offset: int) -> int:
    """Copy all of ``source`` into ``target`` from byte ``offset``; returns where it ended.

    The kernel copies (``copy_file_range``: no trip of the bytes through this process, and a
    mere reference on file systems that share blocks); where it cannot, the bytes go through a
    buffer with unbuffered writes at explicit positions."""
    end = offset
    read = 0
    with contextlib.suppress(AttributeError):  # no copy_file_range outside Linux
        try:
            while copied := os.copy_file_range(source, target, _COPY_BUFFER * 64, read, end):
                read, end = read + copied, end + copied
            return end
        except OSError as error:
            if error.errno not in _NO_KERNEL_COPY:
                raise
    while block := os.pread(source, _COPY_BUFFER, read):
        read += len(block)
        view = memoryview(block)
        while view:
            written = os.pwrite(target, view, end)
            end, view = end + written, view[written:]
    return end


class ChecksumError(BadInputError, ValueError):
    """A checksum header that is not ``sha256 <digest>`` with a well-formed digest."""

    problem_type = "invalid-checksum"


def parse_checksum(header: str) -> bytes:
    """The SHA-256 digest of ``Upload-Checksum: sha256 <digest>`` (base64, as tus has it, or
    64 hex digits)."""
    algorithm, _, value = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise ChecksumError(f"unsupported checksum algorithm {algorithm!r}: use sha256")
    value = value.strip()
    try:
        digest = (
            bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
        )
    except (ValueError, binascii.Error) as error:
        raise ChecksumError("the sha256 digest is neither base64 nor 64 hex digits") from error
    if len(digest) != hashlib.sha256().digest_size:
        raise ChecksumError(f"a sha256 digest has 32 bytes, not {len(digest)}")
    return digest


class UploadStaging:
    """The staging folder of one server: ``<data dir>/uploads``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> UploadStaging:
        """The staging folder of the server whose data dir is ``data_dir``."""
        return cls(data_dir / "uploads")

    def path(self, upload_id: str) -> Path:
        return self.folder / f"{upload_id}.part"

    def create(self, upload_id: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(upload_id)
        path.write_bytes(b"")
        return path

    def new_chunk(self, upload_id: str) -> Path:
        """A fresh temp file for one incoming chunk (delete it with :meth:`discard`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{upload_id}.{uuid.uuid4().hex}.chunk"

    @staticmethod
    def discard(chunk: Path) -> None:
        chunk.unlink(missing_ok=True)

    def try_lock(self, upload_id: str) -> BinaryIO | None:
        """Exclusive access to the upload for this process and any other on this machine, or
        ``None`` when someone holds it. Never blocks, so an abandoned request cannot leave a
        thread waiting on the lock. Release with :meth:`unlock`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / f"{upload_id}.lock", "a+b")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    @staticmethod
    def unlock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def write_at(self, upload_id: str, offset: int, chunk: Path, received: int) -> int:
        """Write ``chunk`` at byte ``offset`` of an upload that holds ``received`` accepted
        bytes (``offset <= received``); anything after those is dropped first, and the file is
        synced to disk. Returns the upload's new size: ``max(received, offset + chunk size)``.
        Call with the lock held (:meth:`try_lock`)."""
        # Unbuffered writes at explicit positions: when one fails, no buffered bytes can land
        # later behind the cut below.
        target = os.open(self.path(upload_id), os.O_RDWR)
        try:
            os.ftruncate(target, received)
            with open(chunk, "rb") as source:
                end = _copy_into(source.fileno(), target, offset)
            os.fsync(target)
        except OSError:
            # A full disk mid-copy: the bytes after ``received`` go at once (they would be cut
            # off later anyway) and give their room back. A rewrite of earlier bytes
            # (``offset < received``) may have changed some of them: the client's checksum at
            # ``complete`` finds that, and the range is sent again.
            with contextlib.suppress(OSError):
                os.ftruncate(target, received)
            raise
        finally:
            os.close(target)
        return max(received, end)

    def trim(self, upload_id: str, size: int) -> int:
        """Cut the upload to its first ``size`` bytes; returns its size on disk before (less
        than ``size`` when bytes were lost)."""
        path = self.path(upload_id)
        with open(path, "r+b") as handle:
            actual = os.fstat(handle.fileno()).st_size
            if actual > size:
                handle.truncate(size)
        return actual

    def sha256(self, upload_id: str) -> bytes:
        digest = hashlib.sha256()
        with open(self.path(upload_id), "rb") as handle:
            while block := handle.read(_COPY_BUFFER):
                digest.update(block)
        return digest.digest()

    def remove(self, upload_id: str) -> None:
        self.path(upload_id).unlink(missing_ok=True)
        (self.folder / f"{upload_id}.lock").unlink(missing_ok=True)
        for chunk in self.folder.glob(f"{upload_id}.*.chunk"):
            chunk.unlink(missing_ok=True)

    def stale_uploads(self, older_than_seconds: float, limit: int = 500) -> list[str]:
        """Ids of staged uploads whose file was last written over ``older_than_seconds`` ago
        (at most ``limit``)."""
        if not self.folder.is_dir():
            return []
        cutoff = time.time() - older_than_seconds
        found: list[str] = []
        for part in self.folder.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < cutoff:
                    found.append(part.name.removesuffix(".part"))
                    if len(found) >= limit:
                        break
        return found

    def remove_stale_chunks(self, older_than_seconds: float) -> int:
        """Delete chunk temp files a crashed server left behind; returns how many."""
        if not self.folder.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for chunk in self.folder.glob("*.chunk"):
            with contextlib.suppress(FileNotFoundError):
                if chunk.stat().st_mtime < cutoff:
                    chunk.unlink()
                    removed += 1
        return removed
