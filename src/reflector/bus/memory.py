"""In-process event bus for the embedded mode (API and workers in one process)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reflector.bus.codec import check_channel, encode_message
from reflector.bus.protocol import BusError, BusStats, Message
from reflector.bus.subscription import BusCounters, Subscription

DEFAULT_BACKLOG = 1000


def check_backlog(backlog: int) -> int:
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 1:
        raise ValueError(f"bus backlog must be a positive integer, got {backlog!r}")
    return backlog


class MemoryBus:
    """Pub/sub inside one process, across threads and event loops.

    Publishing from other threads: :meth:`publish_sync` is a plain function that any thread may
    call (a worker thread running a pipeline stage, say), and ``await publish(...)`` works on any
    event loop, not only the one the subscribers run on. Either way the message is handed to each
    subscriber's own loop with ``call_soon_threadsafe``; messages from one thread keep their
    order. Neither ever waits for a subscriber.
    """

    name = "memory"

    def __init__(self, backlog: int = DEFAULT_BACKLOG) -> None:
        self.backlog = check_backlog(backlog)
        # Guards the registry: publishers on other threads read it while the subscribers'
        # loop changes it.
        self._lock = threading.Lock()
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._counters = BusCounters()
        self._closed = False

    async def publish(self, channel: str, message: Message) -> None:
        self.publish_sync(channel, message)

    def publish_sync(self, channel: str, message: Message) -> None:
        """Publish from any thread, async or not; returns without waiting for subscribers."""
        raw = encode_message(check_channel(channel), message)
        with self._lock:
            if self._closed:
                raise BusError("the in-memory event bus is closed")
            self._counters.published += 1
            receivers = tuple(self._subscriptions.get(channel, ()))
        for subscription in receivers:
            subscription.deliver(raw)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(check_channel(channel), self.backlog, self._counters)
        with self._lock:
            if self._closed:
                raise BusError("the in-memory event bus is closed")
            self._subscriptions.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            # Runs on normal exit, on errors and on cancellation alike.
            with self._lock:
                receivers = self._subscriptions.get(channel)
                if receivers is not None:
                    receivers.discard(subscription)
                    if not receivers:
                        del self._subscriptions[channel]
            subscription.close(discard=True)

    def subscriber_count(self, channel: str | None = None) -> int:
        """Open subscriptions to ``channel``, or to any channel."""
        with self._lock:
            if channel is not None:
                return len(self._subscriptions.get(channel, ()))
            return sum(len(receivers) for receivers in self._subscriptions.values())

    def stats(self) -> BusStats:
        return BusStats(
            backend=self.name,
            subscriptions=self.subscriber_count(),
            published=self._counters.published,
            delivered=self._counters.delivered,
            dropped=self._counters.dropped,
        )

    async def check(self) -> None:
        if self._closed:
            raise BusError("the in-memory event bus is closed")

    async def close(self) -> None:
        """Stop accepting messages; open subscriptions end after what they have buffered."""
        with self._lock:
            self._closed = True
            receivers = [s for group in self._subscriptions.values() for s in group]
        for subscription in receivers:
            subscription.close_threadsafe()
