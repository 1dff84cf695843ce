"""Where recordings, MP3s and stage outputs live: a local directory or an S3-compatible service.

Keys are ``/``-separated relative paths such as ``transcripts/<id>/audio.mp3`` (see
:func:`reflector.blobs.keys.validate_key` for the exact rules, which are the same for every store
so that data can move between them). Every method streams: a store never holds a whole recording
in memory, so a 1 GB upload costs the same memory as a 1 MB one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reflector.errors import BadInputError, NotFoundError, ReflectorError, UnavailableError


class BlobError(ReflectorError):
    """A store that cannot be reached or refused an operation; the message is for people."""


class BlobUnavailable(BlobError, UnavailableError):
    """The store cannot be reached, or answered that it cannot serve now (a 5xx answer, a
    timeout): the same call may well work in a moment, so a job tries it again."""


class BlobStoreFull(BlobUnavailable):
    """The store's disk (or quota) is full: nothing was written, and the same write works
    once there is room (a job tries it again for its retry budget)."""

    status = 507
    problem_type = "insufficient-storage"


class BlobNotFound(BlobError, NotFoundError):
    """No blob under that key."""


class BlobRangeError(BlobError, BadInputError):
    """A byte range that starts at or past the end of the blob (HTTP 416).

    ``size`` is the blob's length, so an HTTP layer can answer ``Content-Range: bytes */size``.
    """

    status = 416
    problem_type = "range-not-satisfiable"

    def __init__(self, key: str, start: int, size: int) -> None:
        super().__init__(
            f"byte range starting at {start} is past the end of blob {key!r} ({size} bytes)"
        )
        self.key = key
        self.start = start
        self.size = size


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    """Bytes."""


class BlobStore(Protocol):
    """Async, streaming access to blobs by key.

    Invalid keys raise :class:`ValueError` (a programming error, not a storage failure); every
    storage failure is a :class:`BlobError` whose message names the store and what failed.
    """

    name: str
    """``local`` or ``s3``, for health checks and logs."""

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        """Copy a local file in (streamed; multipart on S3), replacing any blob under ``key``.

        Readers never see a half-written blob: they get the old one or the new one.
        """
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        """Store small data (JSON results, waveforms), replacing any blob under ``key``."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Read a small blob whole. Raises :class:`BlobNotFound`."""
        ...

    async def download(self, key: str, path: Path) -> Path:
        """Copy a blob to a local file (streamed), for engines that read files.

        Raises :class:`BlobNotFound`; ``path`` is only replaced once the copy is complete.
        """
        ...

    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` inclusive (HTTP Range semantics), in chunks.

        ``end=None`` or an ``end`` past the last byte means "to the end of the blob". A ``start``
        at or past the end raises :class:`BlobRangeError`, except that reading an empty blob from
        0 yields nothing. A missing blob raises :class:`BlobNotFound`. Errors surface on the first
        iteration, so callers that must choose a status code first should :meth:`stat`.
        """
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Size of the blob, or ``None`` when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove one blob; a missing one is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with ``prefix``; returns how many.

        The match is on the key string (``transcripts/ab`` also matches ``transcripts/abc/x``), so
        end the prefix with ``/`` to remove one "folder". An empty prefix is refused with
        :class:`ValueError` rather than wiping the store.
        """
        ...

    async def check(self) -> None:
        """Raise :class:`BlobError` if the store cannot be used (for ``/readyz``)."""
        ...
