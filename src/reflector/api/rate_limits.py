"""Rate limits: sign-in attempts, API-key use and requests that start heavy work, each counted
per user (or account) and per client address; over a limit the answer is 429 ``rate-limited``
with ``Retry-After``.

Counts live in this process (the ``limits`` library's memory storage), or in Redis when the
bus is Redis, so that every server behind a load balancer shares them. Each limit is a moving
window (``10/minute`` means at most 10 in any 60 s). Should Redis fail, requests go through
(logged): the limits protect the server, they must not take it down.

In this process the synchronous memory storage is used, called straight from the event loop
(a hit is a few microseconds of list work under a lock, no I/O): the asyncio flavour of that
storage starts a sweep of every key, with a thread hop per key, after each hit, which cost
more than the rest of an authenticated request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import structlog
from fastapi import Depends, Request
from limits import RateLimitItem, parse_many
from limits import strategies as in_process
from limits.aio import strategies as shared
from limits.aio.storage import RedisStorage
from limits.storage import MemoryStorage

from reflector.api.auth import CurrentUser, client_address, current_user
from reflector.api.problems import Problem
from reflector.settings import Settings

log = structlog.get_logger(__name__)

Category = Literal["login", "api-key", "expensive"]
_WHAT = {
    "login": "sign-in attempts",
    "api-key": "requests with an API key",
    "expensive": "requests that start transcription or processing",
}


def rate_limited(category: Category, retry_after: int) -> Problem:
    return Problem(
        429,
        "rate-limited",
        f"too many {_WHAT[category]}; try again in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )


def _redis_uri(url: str) -> str:
    # limits takes the asyncio client of redis-py through its ``async+`` schemes.
    return url if url.startswith("async+") else f"async+{url}"


class _InProcess:
    """Moving windows in this process's memory."""

    def __init__(self) -> None:
        self._windows = in_process.MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        return self._windows.hit(item, *key)

    async def reset_time(self, item: RateLimitItem, *key: str) -> float:
        return self._windows.get_window_stats(item, *key).reset_time

    async def aclose(self) -> None:
        return None


class _InRedis:
    """Moving windows in Redis, shared by every server on it."""

    def __init__(self, storage: RedisStorage) -> None:
        self._storage = storage
        self._windows = shared.MovingWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        return await self._windows.hit(item, *key)

    async def reset_time(self, item: RateLimitItem, *key: str) -> float:
        return (await self._windows.get_window_stats(item, *key)).reset_time

    async def aclose(self) -> None:
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


@dataclass
class RateLimiter:
    """The limits of one server (``AppState.rate_limiter``)."""

    windows: _InProcess | _InRedis
    limits: dict[Category, Sequence[RateLimitItem]]
    enabled: bool = True

    def __post_init__(self) -> None:
        self._failing = False

    @classmethod
    def off(cls) -> RateLimiter:
        """Limits that count nothing (until the app's start replaces them)."""
        return cls(windows=_InProcess(), limits={}, enabled=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        windows: _InProcess | _InRedis = _InProcess()
        if settings.bus_backend == "redis":
            windows = _InRedis(
                RedisStorage(
                    _redis_uri(settings.redis_url),
                    implementation="redispy",
                    key_prefix=f"{settings.celery_key_prefix}reflector-limits",
                    wrap_exceptions=True,
                )
            )
        return cls(
            windows=windows,
            limits={
                "login": parse_many(settings.rate_limit_login),
                "api-key": parse_many(settings.rate_limit_api_key),
                "expensive": parse_many(settings.rate_limit_expensive),
            },
            enabled=settings.rate_limits_enabled,
        )

    async def hit(self, category: Category, *identity: str) -> None:
        """Count one request of ``identity`` (``"user", id`` or ``"ip", address`` …) against
        the category's limits; 429 (with ``Retry-After``) when one is used up."""
        if not self.enabled:
            return
        try:
            for item in self.limits[category]:
                if not await self.windows.hit(item, category, *identity):
                    reset = await self.windows.reset_time(item, category, *identity)
                    wait = max(1, math.ceil(reset - time.time()))
                    raise rate_limited(category, wait)
        except Problem:
            raise
        except Exception as error:  # the store is down: let the request through
            if not self._failing:
                log.warning("rate_limits_unavailable", error=str(error))
            self._failing = True
            return
        self._failing = False

    async def aclose(self) -> None:
        await self.windows.aclose()


async def limit_expensive(
    request: Request, user: Annotated[CurrentUser, Depends(current_user)]
) -> CurrentUser:
    """A route that starts heavy work: counted per user and per address."""
    limiter: RateLimiter = request.app.state.reflector.rate_limiter
    await limiter.hit("expensive", "user", user.id)
    await limiter.hit("expensive", "ip", client_address(request))
    return user


ExpensiveUser = Annotated[CurrentUser, Depends(limit_expensive)]
"""The caller of a route that starts heavy work, once counted against its limits."""
