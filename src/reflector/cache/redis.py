"""Speech cache in Redis, shared by API replicas and workers; entries expire after a TTL.

Two clients over the same keys: :class:`AsyncRedisSpeechCache` (``redis.asyncio``, for the
server's event loop) and :class:`RedisSpeechCache` (blocking, for the CLI and worker threads).
Entry ``k`` is the Redis string ``prefix + k``. Hit and miss counts are this process's own.
A store that cannot be reached is a miss (counted in ``errors``), never a failed request.
"""

from __future__ import annotations

import re
import threading

import redis
import redis.asyncio
import structlog

from reflector.bus.redis import DEFAULT_REDIS_URL, check_redis_url, redact_url
from reflector.cache.protocol import CacheError, CacheStats

log = structlog.get_logger(__name__)

DEFAULT_CACHE_PREFIX = "reflector:tts:"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
_FAILURES = (redis.RedisError, OSError)
_CONNECT_TIMEOUT = 2.0
_SOCKET_TIMEOUT = 5.0


def _pattern(prefix: str) -> str:
    # SCAN MATCH is a glob: characters that mean something to it are escaped.
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"


class _Counters:
    def __init__(self) -> None:
        self.hits = self.misses = self.errors = 0
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


def _check_options(url: str, prefix: str, ttl_seconds: int) -> None:
    check_redis_url(url)
    if not prefix:
        raise ValueError("the cache key prefix must not be empty (it keeps entries apart)")
    if ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be at least 1, got {ttl_seconds}")


class _RedisCache:
    """What both clients share: options, the client, counters and how a failure is told."""

    _client_class: type[redis.Redis] | type[redis.asyncio.Redis]

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        prefix: str = DEFAULT_CACHE_PREFIX,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        _check_options(url, prefix, ttl_seconds)
        self.url, self.prefix, self.ttl_seconds = url, prefix, ttl_seconds
        self._client = self._client_class.from_url(
            url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=_SOCKET_TIMEOUT
        )
        self._counters = _Counters()

    def _unreachable(self, exc: Exception) -> None:
        """A failed read or write: counted and logged, never raised (it is only a cache)."""
        self._counters.count("errors")
        log.warning("tts_cache_unreachable", url=redact_url(self.url), error=str(exc))

    def _found(self, data: bytes | None) -> bytes | None:
        self._counters.count("hits" if data is not None else "misses")
        return data

    def _stats(self, items: int) -> CacheStats:
        c = self._counters
        return CacheStats("redis", c.hits, c.misses, items, 0, 0, c.errors)

    def _unreachable_error(self, exc: Exception) -> CacheError:
        return CacheError(f"Redis at {redact_url(self.url)} is unreachable: {exc}")


class RedisSpeechCache(_RedisCache):
    """Blocking Redis speech cache (``redis`` client)."""

    _client_class = redis.Redis

    def get(self, key: str) -> bytes | None:
        try:
            data = self._client.get(self.prefix + key)
        except _FAILURES as exc:
            self._unreachable(exc)
            data = None
        return self._found(data)

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.set(self.prefix + key, bytes(data), ex=self.ttl_seconds)
        except _FAILURES as exc:
            self._unreachable(exc)

    def ttl(self, key: str) -> int | None:
        """Seconds until ``key`` expires (``None``: not stored)."""
        remaining = self._client.ttl(self.prefix + key)
        return remaining if remaining >= 0 else None

    def _items(self) -> int:
        try:
            return sum(1 for _ in self._client.scan_iter(match=_pattern(self.prefix), count=500))
        except _FAILURES:
            return 0

    def stats(self) -> CacheStats:
        return self._stats(self._items())

    def clear(self) -> None:
        """Delete every entry under this cache's prefix."""
        keys = list(self._client.scan_iter(match=_pattern(self.prefix), count=500))
        for start in range(0, len(keys), 500):
            self._client.delete(*keys[start : start + 500])

    def check(self) -> None:
        try:
            self._client.ping()
        except _FAILURES as exc:
            raise self._unreachable_error(exc) from exc

    def close(self) -> None:
        self._client.close()


class AsyncRedisSpeechCache(_RedisCache):
    """Async Redis speech cache (``redis.asyncio``), for the server."""

    _client_class = redis.asyncio.Redis

    async def get(self, key: str) -> bytes | None:
        try:
            data = await self._client.get(self.prefix + key)
        except _FAILURES as exc:
            self._unreachable(exc)
            data = None
        return self._found(data)

    async def put(self, key: str, data: bytes) -> None:
        try:
            await self._client.set(self.prefix + key, bytes(data), ex=self.ttl_seconds)
        except _FAILURES as exc:
            self._unreachable(exc)

    async def ttl(self, key: str) -> int | None:
        remaining = await self._client.ttl(self.prefix + key)
        return remaining if remaining >= 0 else None

    async def stats(self) -> CacheStats:
        try:
            items = 0
            async for _ in self._client.scan_iter(match=_pattern(self.prefix), count=500):
                items += 1
        except _FAILURES:
            items = 0
        return self._stats(items)

    async def clear(self) -> None:
        keys = [k async for k in self._client.scan_iter(match=_pattern(self.prefix), count=500)]
        for start in range(0, len(keys), 500):
            await self._client.delete(*keys[start : start + 500])

    async def check(self) -> None:
        try:
            await self._client.ping()
        except _FAILURES as exc:
            raise self._unreachable_error(exc) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
