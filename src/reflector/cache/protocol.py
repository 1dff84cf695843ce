"""What every speech cache offers, synchronous (CLI, worker threads) and async (the server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from reflector.errors import UnavailableError


class CacheError(UnavailableError, RuntimeError):
    """The cache store cannot be reached (only :meth:`check` raises it; reads and writes treat
    an unreachable store as a miss, so speech keeps working without its cache)."""


@dataclass(frozen=True)
class CacheStats:
    backend: str
    hits: int
    misses: int
    items: int
    """Entries stored now (for Redis: counted with SCAN over this cache's prefix)."""
    bytes: int
    """Bytes stored now; 0 where the store does not say (Redis)."""
    evictions: int = 0
    """Entries pushed out to stay under the item or byte limit."""
    errors: int = 0
    """Reads or writes that failed (store unreachable) and were treated as misses."""

    @property
    def hit_rate(self) -> float:
        """Hits per lookup so far, 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@runtime_checkable
class SpeechCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def stats(self) -> CacheStats: ...

    def check(self) -> None:
        """Raise :class:`CacheError` when the store cannot be reached (readiness probes)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncSpeechCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def stats(self) -> CacheStats: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...
