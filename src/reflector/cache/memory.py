"""In-process LRU cache of synthesized speech (the embedded mode's default)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from reflector.cache.protocol import CacheStats, SpeechCache


class MemorySpeechCache:
    """Least-recently-used cache bounded by entries and bytes; safe to share between threads.

    ``ttl_seconds`` (optional) lets entries expire as they do in Redis.
    """

    def __init__(
        self,
        max_items: int = 1000,
        max_bytes: int = 256 * 1024**2,
        ttl_seconds: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("max_items and max_bytes must be positive")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive (or None for no expiry)")
        self.max_items, self.max_bytes, self.ttl_seconds = max_items, max_bytes, ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def _drop(self, key: str) -> None:
        data, _ = self._entries.pop(key)
        self._bytes -= len(data)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is not None and self._clock() >= entry[1]:
                self._drop(key)
                entry = None
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[0]

    def put(self, key: str, data: bytes) -> None:
        data = bytes(data)
        if len(data) > self.max_bytes:
            return  # larger than the whole cache: storing it would evict everything for nothing
        expires = self._clock() + self.ttl_seconds if self.ttl_seconds else None
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (data, expires)
            self._bytes += len(data)
            while len(self._entries) > self.max_items or self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)
                self._evictions += 1

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                backend="memory",
                hits=self._hits,
                misses=self._misses,
                items=len(self._entries),
                bytes=self._bytes,
                evictions=self._evictions,
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def check(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        self.clear()


class AsyncCacheAdapter:
    """An :class:`~reflector.cache.protocol.AsyncSpeechCache` over a synchronous in-memory
    cache; its operations take microseconds, so they run inline rather than in a thread."""

    def __init__(self, cache: SpeechCache) -> None:
        self.cache = cache

    async def get(self, key: str) -> bytes | None:
        return self.cache.get(key)

    async def put(self, key: str, data: bytes) -> None:
        self.cache.put(key, data)

    async def stats(self) -> CacheStats:
        return self.cache.stats()

    async def check(self) -> None:
        self.cache.check()

    async def aclose(self) -> None:
        self.cache.close()
