"""Event bus over Redis pub/sub, for API replicas and workers in separate processes.

Channel ``c`` is the Redis channel ``prefix + c``; messages are compact JSON text.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import structlog
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from reflector.bus.codec import check_channel, encode_message
from reflector.bus.memory import DEFAULT_BACKLOG, check_backlog
from reflector.bus.protocol import BusError, BusStats, Message
from reflector.bus.subscription import BusCounters, Subscription

log = structlog.get_logger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "reflector:"
_SCHEMES = ("redis", "rediss", "unix")
# What a failed call can raise: redis-py wraps most socket errors, but not every path does.
_FAILURES = (redis.RedisError, OSError)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for logs and error messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def check_redis_url(url: str) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in _SCHEMES:
        shown = redact_url(url) if isinstance(url, str) else repr(url)
        raise ValueError(
            f"Redis URL must start with redis://, rediss:// or unix://, got {shown!r} "
            f"(set REFLECTOR_REDIS_URL, e.g. {DEFAULT_REDIS_URL})"
        )
    return url


@dataclass(frozen=True)
class RedisOptions:
    """Connection settings shared by the async bus and the synchronous publisher."""

    connect_timeout: float = 2.0
    """Seconds to open a connection; kept short so a missing Redis is reported quickly."""
    socket_timeout: float = 5.0
    """Seconds to wait for a reply to a command (subscriptions wait for messages forever)."""
    retries: int = 1
    """Extra attempts after a failed publish or ping (the library's default waits seconds).
    A subscription never retries: see :class:`RedisBus`."""
    client_name: str | None = "reflector"
    """Shown by ``CLIENT LIST`` on the server, to tell the bus's connections apart."""

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.socket_timeout <= 0:
            raise ValueError("Redis timeouts must be positive")
        if self.retries < 0:
            raise ValueError("Redis retries must be zero or more")

    def client_kwargs(self, retry: Retry | AsyncRetry) -> dict[str, Any]:
        return {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.socket_timeout,
            "socket_keepalive": True,
            "retry": retry,
            "client_name": self.client_name,
        }

    def backoff(self) -> ExponentialBackoff:
        return ExponentialBackoff(cap=0.2, base=0.05)


def _failure(url: str, what: str, exc: BaseException) -> BusError:
    detail = str(exc) or type(exc).__name__
    return BusError(
        f"Redis event bus at {url}: cannot {what}: {detail} "
        "(is Redis running and REFLECTOR_REDIS_URL right?)"
    )


class RedisBus:
    """Event bus on Redis pub/sub (``redis.asyncio``).

    Use it on one event loop: like every ``redis.asyncio`` client its connections belong to the
    loop that opened them. From other threads or plain code use :meth:`publish_sync`, which has
    its own synchronous, thread-safe connection pool.

    Each subscription has its own connection. If that connection breaks, the subscription ends
    with :class:`BusError` once its buffered messages are read, instead of quietly reconnecting
    and missing what was published meanwhile: the subscriber subscribes again and replays the
    persisted events, so it knows it has everything.
    """

    name = "redis"

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        prefix: str = DEFAULT_PREFIX,
        *,
        backlog: int = DEFAULT_BACKLOG,
        options: RedisOptions | None = None,
    ) -> None:
        self._url = check_redis_url(url)
        self.safe_url = redact_url(url)
        self.prefix = prefix
        self.backlog = check_backlog(backlog)
        self.options = options or RedisOptions()
        # Connections are opened lazily, so making a bus never fails; check() reports problems.
        retry = AsyncRetry(self.options.backoff(), self.options.retries)
        self._client = redis.asyncio.Redis.from_url(url, **self.options.client_kwargs(retry))
        no_retry = AsyncRetry(NoBackoff(), 0)
        self._subscriber_client = redis.asyncio.Redis.from_url(
            url, **self.options.client_kwargs(no_retry)
        )
        self._counters = BusCounters()
        self._open: dict[Subscription, tuple[PubSub, asyncio.Task[None]]] = {}
        self._sync_publisher: SyncRedisPublisher | None = None
        self._sync_lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"the Redis event bus for {self.safe_url} is closed")

    async def publish(self, channel: str, message: Message) -> None:
        raw = encode_message(check_channel(channel), message)
        self._check_open()
        try:
            await self._client.publish(self.prefix + channel, raw)
        except _FAILURES as exc:
            raise _failure(self.safe_url, f"publish to {self.prefix + channel!r}", exc) from exc
        self._counters.published += 1

    def publish_sync(self, channel: str, message: Message) -> None:
        """Publish from plain code on any thread; blocks for one round trip to Redis.

        Do not call it on the bus's event loop (it would stall the loop); use ``publish`` there.
        """
        self._check_open()
        with self._sync_lock:
            if self._sync_publisher is None:
                self._sync_publisher = SyncRedisPublisher(
                    self._url, self.prefix, options=self.options
                )
            publisher = self._sync_publisher
        publisher.publish(channel, message)
        self._counters.published += 1

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        key = self.prefix + check_channel(channel)
        self._check_open()
        pubsub = self._subscriber_client.pubsub()
        try:
            await self._confirm_subscription(pubsub, key)
        except BaseException:
            with suppress(*_FAILURES):
                await pubsub.aclose()
            raise
        subscription = Subscription(channel, self.backlog, self._counters)
        reader = asyncio.create_task(self._read(pubsub, subscription), name=f"bus-reader:{key}")
        self._open[subscription] = (pubsub, reader)
        try:
            yield subscription
        finally:
            # Runs on normal exit, on errors and on cancellation alike.
            self._open.pop(subscription, None)
            subscription.close(discard=True)
            await self._stop(pubsub, reader)

    async def _confirm_subscription(self, pubsub: PubSub, key: str) -> None:
        """SUBSCRIBE and wait for Redis to confirm it: only then is nothing published missed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.connect_timeout + self.options.socket_timeout
        try:
            await pubsub.subscribe(key)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise BusError(
                        f"Redis event bus at {self.safe_url}: no confirmation of the "
                        f"subscription to {key!r} within "
                        f"{self.options.connect_timeout + self.options.socket_timeout:g} s"
                    )
                reply = await pubsub.get_message(timeout=remaining)
                if reply is not None and reply["type"] == "subscribe":
                    return
        except _FAILURES as exc:
            raise _failure(self.safe_url, f"subscribe to {key!r}", exc) from exc

    async def _read(self, pubsub: PubSub, subscription: Subscription) -> None:
        """Move messages from the connection into the bounded buffer until unsubscribed.

        Reading continuously (rather than when the consumer asks) is what keeps a slow
        consumer from filling Redis's output buffer, which would get the connection killed.
        """
        try:
            while True:
                reply = await pubsub.get_message(timeout=None)
                if reply is None:
                    continue
                if reply["type"] == "message":
                    subscription.push(reply["data"])
                elif reply["type"] == "unsubscribe":
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Tell the consumer instead of leaving it waiting for messages that never come.
            log.warning("bus_subscription_lost", channel=subscription.channel, error=str(exc))
            subscription.close(
                _failure(self.safe_url, f"keep the subscription to {subscription.channel!r}", exc)
            )

    async def _stop(self, pubsub: PubSub, reader: asyncio.Task[None]) -> None:
        try:
            if not reader.done():
                # UNSUBSCRIBE and let the reader see the confirmation: afterwards Redis no longer
                # counts this subscriber, and the connection is clean for the pool.
                try:
                    await pubsub.unsubscribe()
                except _FAILURES:
                    pass
                else:
                    await asyncio.wait({reader}, timeout=self.options.socket_timeout)
                if not reader.done():
                    reader.cancel()
                    await asyncio.wait({reader})
        finally:
            with suppress(*_FAILURES):
                await pubsub.aclose()

    def stats(self) -> BusStats:
        return BusStats(
            backend=self.name,
            subscriptions=len(self._open),
            published=self._counters.published,
            delivered=self._counters.delivered,
            dropped=self._counters.dropped,
        )

    async def check(self) -> None:
        self._check_open()
        try:
            await self._client.ping()
        except _FAILURES as exc:
            raise _failure(self.safe_url, "ping", exc) from exc

    async def close(self) -> None:
        """Close connections; open subscriptions end after what they have buffered."""
        if self._closed:
            return
        self._closed = True
        for subscription, (pubsub, reader) in list(self._open.items()):
            subscription.close()
            reader.cancel()
            # wait() rather than ``await reader``: a cancellation of close() itself must not
            # be mistaken for the reader's and swallowed.
            await asyncio.wait({reader})
            with suppress(*_FAILURES):
                await pubsub.aclose()
        self._open.clear()
        for client in (self._client, self._subscriber_client):
            with suppress(*_FAILURES):
                await client.aclose()
        with self._sync_lock:
            if self._sync_publisher is not None:
                self._sync_publisher.close()
                self._sync_publisher = None


class SyncRedisPublisher:
    """Publishes bus messages from synchronous code: Celery tasks, threads, scripts.

    Thread-safe (one connection pool); make one per process and reuse it. Messages arrive at
    :class:`RedisBus` subscribers using the same URL and prefix.
    """

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        prefix: str = DEFAULT_PREFIX,
        *,
        options: RedisOptions | None = None,
    ) -> None:
        self.safe_url = redact_url(check_redis_url(url))
        self.prefix = prefix
        self.options = options or RedisOptions()
        retry = Retry(self.options.backoff(), self.options.retries)
        self._client = redis.Redis.from_url(url, **self.options.client_kwargs(retry))

    def publish(self, channel: str, message: Message) -> int:
        """Publish; returns how many subscribers (in all processes) Redis handed it to."""
        raw = encode_message(check_channel(channel), message)
        try:
            return int(self._client.publish(self.prefix + channel, raw))
        except _FAILURES as exc:
            raise _failure(self.safe_url, f"publish to {self.prefix + channel!r}", exc) from exc

    def check(self) -> None:
        try:
            self._client.ping()
        except _FAILURES as exc:
            raise _failure(self.safe_url, "ping", exc) from exc

    def close(self) -> None:
        with suppress(*_FAILURES):
            self._client.close()

    def __enter__(self) -> SyncRedisPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
