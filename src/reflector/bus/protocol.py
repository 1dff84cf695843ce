"""Publish/subscribe of events between API replicas and workers.

In the embedded mode everything runs in one process and an in-memory bus is enough; when API and
workers are separate processes, Redis pub/sub carries the events. Messages are JSON-able dicts;
delivery is best effort (a subscriber that is not listening misses them), which is why events are
also persisted per transcript and replayed from the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from reflector.errors import UnavailableError

Message = dict[str, Any]


class BusError(UnavailableError):
    """The bus cannot be reached; the message is for people."""


@dataclass(frozen=True)
class BusStats:
    """Counters of one bus object in this process, for metrics and ``/readyz`` details."""

    backend: str
    subscriptions: int
    """Subscriptions open now."""
    published: int
    """Messages this process published."""
    delivered: int
    """Messages handed to subscribers."""
    dropped: int
    """Messages discarded because a subscriber fell more than its backlog behind."""


class EventBus(Protocol):
    name: str
    """``memory`` or ``redis``."""

    async def publish(self, channel: str, message: Message) -> None:
        """Send ``message`` to everyone subscribed to ``channel`` now."""
        ...

    def publish_sync(self, channel: str, message: Message) -> None:
        """:meth:`publish` for plain (non-async) code on any thread, e.g. a pipeline stage."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[Message]]:
        """``async with bus.subscribe(ch) as messages: async for m in messages: ...``

        The subscription is active when the ``async with`` body starts, so a publish that
        happens after entering is never missed. A slow subscriber does not block publishers:
        past a bounded backlog its oldest messages are dropped.
        """
        ...

    def stats(self) -> BusStats: ...

    async def check(self) -> None:
        """Raise :class:`BusError` if the bus cannot be used (for ``/readyz``)."""
        ...

    async def close(self) -> None: ...
