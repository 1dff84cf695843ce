"""Event bus: in-process for the embedded mode, Redis pub/sub when processes are separate."""

from __future__ import annotations

from typing import Literal

from reflector.bus.channels import transcript_channel, user_channel
from reflector.bus.memory import DEFAULT_BACKLOG, MemoryBus
from reflector.bus.protocol import BusError, BusStats, EventBus, Message
from reflector.bus.redis import (
    DEFAULT_PREFIX,
    DEFAULT_REDIS_URL,
    RedisBus,
    RedisOptions,
    SyncRedisPublisher,
    redact_url,
)
from reflector.bus.subscription import Subscription

BusBackend = Literal["memory", "redis"]

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_PREFIX",
    "DEFAULT_REDIS_URL",
    "BusBackend",
    "BusError",
    "BusStats",
    "EventBus",
    "MemoryBus",
    "Message",
    "RedisBus",
    "RedisOptions",
    "Subscription",
    "SyncRedisPublisher",
    "make_bus",
    "redact_url",
    "transcript_channel",
    "user_channel",
]


def make_bus(
    backend: BusBackend,
    *,
    redis_url: str | None = None,
    redis_prefix: str = DEFAULT_PREFIX,
    backlog: int = DEFAULT_BACKLOG,
) -> EventBus:
    """The bus chosen by ``REFLECTOR_BUS_BACKEND``.

    ``redis_url`` defaults to :data:`DEFAULT_REDIS_URL` and is ignored by the memory bus, so
    callers can always pass the configured value. Misconfiguration raises ``ValueError`` now
    rather than at the first event; whether Redis is reachable is for ``await bus.check()``.
    """
    if backend == "memory":
        return MemoryBus(backlog=backlog)
    if backend == "redis":
        if redis_url is not None and not redis_url.strip():
            raise ValueError(
                f"REFLECTOR_REDIS_URL is empty; set it to a Redis URL such as {DEFAULT_REDIS_URL}"
            )
        return RedisBus(redis_url or DEFAULT_REDIS_URL, redis_prefix, backlog=backlog)
    raise ValueError(f"REFLECTOR_BUS_BACKEND must be 'memory' or 'redis', got {backend!r}")
