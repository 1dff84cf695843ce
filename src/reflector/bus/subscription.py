"""One subscriber's bounded, drop-oldest buffer, read as an async iterator."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import structlog

from reflector.bus.codec import decode_message
from reflector.bus.protocol import BusError, Message

log = structlog.get_logger(__name__)


@dataclass
class BusCounters:
    """Running totals of one bus, shared by its subscriptions."""

    published: int = 0
    delivered: int = 0
    dropped: int = 0


class Subscription:
    """The messages of one channel for one subscriber, oldest first.

    At most ``backlog`` messages wait; when one more arrives the oldest is dropped and counted,
    so a subscriber that stops reading costs bounded memory and never slows the publisher.
    Messages are kept as JSON text and decoded when read, so dropped ones cost no decoding.

    Only the event loop the subscription was made on touches the buffer. :meth:`deliver` and
    :meth:`close_threadsafe` may be called from any thread and hand the work to that loop.
    """

    def __init__(self, channel: str, backlog: int, counters: BusCounters) -> None:
        self.channel = channel
        self.backlog = backlog
        self.received = 0
        """Messages that reached this subscription, dropped ones included."""
        self.dropped = 0
        """Messages dropped because this subscriber was more than ``backlog`` behind."""
        self._counters = counters
        self._loop = asyncio.get_running_loop()
        self._buffer: deque[str | bytes] = deque(maxlen=backlog)
        self._wakeup = asyncio.Event()
        self._closed = False
        self._error: BusError | None = None

    @property
    def pending(self) -> int:
        """Messages waiting to be read."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, raw: str | bytes) -> None:
        """Add a message; call on the subscription's event loop only."""
        if self._closed:
            return
        if len(self._buffer) == self.backlog:
            # deque(maxlen) discards the oldest on append; count it for metrics.
            self.dropped += 1
            self._counters.dropped += 1
            if self.dropped == 1:
                log.warning("bus_subscriber_lagging", channel=self.channel, backlog=self.backlog)
        self._buffer.append(raw)
        self.received += 1
        self._wakeup.set()

    def deliver(self, raw: str | bytes) -> None:
        """:meth:`push` from any thread or event loop."""
        self._on_loop(self.push, raw)

    def close(self, error: BusError | None = None, *, discard: bool = False) -> None:
        """End the stream: readers get what is buffered (unless ``discard``), then ``error``
        is raised or iteration stops. Call on the subscription's event loop only."""
        if discard:
            self._buffer.clear()
        if self._closed:
            return
        self._closed = True
        self._error = error
        self._wakeup.set()

    def close_threadsafe(self, error: BusError | None = None) -> None:
        self._on_loop(self.close, error)

    def _on_loop(self, function: Callable[..., None], *args: object) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            function(*args)
            return
        # RuntimeError: the subscriber's loop is closed, so nobody can read this any more.
        with suppress(RuntimeError):
            self._loop.call_soon_threadsafe(function, *args)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        while True:
            while not self._buffer:
                if self._closed:
                    if self._error is not None:
                        raise self._error
                    raise StopAsyncIteration
                self._wakeup.clear()
                await self._wakeup.wait()
            message = decode_message(self.channel, self._buffer.popleft())
            if message is not None:
                self._counters.delivered += 1
                return message

    def __repr__(self) -> str:
        return (
            f"Subscription(channel={self.channel!r}, backlog={self.backlog}, "
            f"pending={self.pending}, dropped={self.dropped}, closed={self._closed})"
        )
