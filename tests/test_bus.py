"""Event bus contract, run against the in-memory bus and a real Redis server.

Redis must be running (``REFLECTOR_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``); the
Redis tests fail, not skip, when it is not. Every test uses its own key prefix, so runs in
parallel do not see each other's messages.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio

from reflector.bus import (
    DEFAULT_REDIS_URL,
    BusError,
    EventBus,
    MemoryBus,
    Message,
    RedisBus,
    RedisOptions,
    SyncRedisPublisher,
    make_bus,
    redact_url,
    transcript_channel,
    user_channel,
)
from reflector_testkit.ports import free_port

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("REFLECTOR_TEST_REDIS_URL", DEFAULT_REDIS_URL)
TIMEOUT = 3.0
"""Generous upper bound for one delivery; passing runs take milliseconds."""

BusMaker = Callable[..., Awaitable[Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def prefix() -> str:
    return f"reflector-test:{uuid.uuid4().hex}:"


async def require_redis(bus: RedisBus) -> None:
    try:
        await bus.check()
    except BusError as exc:
        pytest.fail(f"these tests need a running Redis server: {exc}")


@pytest.fixture(params=["memory", "redis"])
async def new_bus(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[BusMaker]:
    """Makes buses of one backend and closes them after the test."""
    made: list[Any] = []

    async def make(backlog: int = 1000) -> Any:
        if request.param == "memory":
            bus: Any = MemoryBus(backlog=backlog)
        else:
            bus = RedisBus(REDIS_URL, prefix, backlog=backlog)
            await require_redis(bus)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


@pytest.fixture
async def bus(new_bus: BusMaker) -> Any:
    return await new_bus()


@pytest.fixture
async def redis_admin() -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    yield client
    await client.aclose()


async def take(messages: AsyncIterator[Message], count: int) -> list[Message]:
    async with asyncio.timeout(TIMEOUT):
        return [await anext(messages) for _ in range(count)]


async def assert_nothing_arrives(messages: AsyncIterator[Message], wait: float = 0.15) -> None:
    try:
        async with asyncio.timeout(wait):
            message = await anext(messages)
    except TimeoutError:
        return
    pytest.fail(f"unexpected message {message!r}")


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


async def subscribers_now(bus: Any, channel: str) -> int:
    """How many subscribers the bus itself (for Redis: the server) has on ``channel``."""
    if isinstance(bus, MemoryBus):
        return bus.subscriber_count(channel)
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        [(_, count)] = await client.pubsub_numsub(bus.prefix + channel)
    finally:
        await client.aclose()
    return int(count)


# --- contract: both buses ---------------------------------------------------------------------


async def test_delivers_in_order(bus: EventBus) -> None:
    async with bus.subscribe("news") as messages:
        for i in range(10):
            await bus.publish("news", {"i": i, "text": f"message {i}"})
        assert await take(messages, 10) == [{"i": i, "text": f"message {i}"} for i in range(10)]


async def test_every_subscriber_gets_every_message(bus: EventBus) -> None:
    async with bus.subscribe("news") as first, bus.subscribe("news") as second:
        for i in range(3):
            await bus.publish("news", {"i": i})
        expected = [{"i": 0}, {"i": 1}, {"i": 2}]
        assert await take(first, 3) == expected
        assert await take(second, 3) == expected


async def test_channels_are_isolated(bus: EventBus) -> None:
    async with bus.subscribe("transcript:a") as a, bus.subscribe("transcript:b") as b:
        await bus.publish("transcript:a", {"for": "a"})
        await bus.publish("transcript:b", {"for": "b"})
        await bus.publish("transcript:c", {"for": "c"})
        assert await take(a, 1) == [{"for": "a"}]
        assert await take(b, 1) == [{"for": "b"}]
        await assert_nothing_arrives(a)
        await assert_nothing_arrives(b)


async def test_subscription_is_live_when_the_body_starts(bus: EventBus) -> None:
    await bus.publish("news", {"when": "before"})
    async with bus.subscribe("news") as messages:
        # Published at once, with no pause for a subscription to settle: must not be missed.
        await bus.publish("news", {"when": "after"})
        assert await take(messages, 1) == [{"when": "after"}]
        await assert_nothing_arrives(messages)


async def test_unsubscribes_on_exit(bus: Any) -> None:
    async with bus.subscribe("news") as messages:
        assert await subscribers_now(bus, "news") == 1
        assert bus.stats().subscriptions == 1
        leaving = time.perf_counter()
    # Leaving is one round trip at most: a closing WebSocket must not hang on it.
    assert time.perf_counter() - leaving < 0.5
    assert await subscribers_now(bus, "news") == 0
    assert bus.stats().subscriptions == 0
    await bus.publish("news", {"after": "exit"})
    # The ended subscription is empty and finished, not waiting forever.
    assert [m async for m in messages] == []
    async with bus.subscribe("news") as again:
        await bus.publish("news", {"i": 1})
        assert await take(again, 1) == [{"i": 1}]


async def test_unsubscribes_when_the_subscriber_is_cancelled(bus: Any) -> None:
    entered = asyncio.Event()

    async def listen() -> None:
        async with bus.subscribe("news") as messages:
            entered.set()
            async for _ in messages:
                pass

    task = asyncio.create_task(listen())
    async with asyncio.timeout(TIMEOUT):
        await entered.wait()
    assert await subscribers_now(bus, "news") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await subscribers_now(bus, "news") == 0
    assert bus.stats().subscriptions == 0


async def test_slow_subscriber_loses_oldest_and_never_slows_the_fast_one(
    new_bus: BusMaker,
) -> None:
    bus = await new_bus(backlog=5)
    async with bus.subscribe("captions") as slow, bus.subscribe("captions") as fast:
        fast_got = []
        for i in range(20):
            await bus.publish("captions", {"i": i})
            fast_got += await take(fast, 1)
        assert fast_got == [{"i": i} for i in range(20)]
        assert fast.dropped == 0

        # ``slow`` read nothing: only its 5 newest messages are left, in order.
        await wait_until(lambda: slow.received == 20)
        assert (slow.dropped, slow.pending) == (15, 5)
        assert await take(slow, 5) == [{"i": i} for i in range(15, 20)]
        await assert_nothing_arrives(slow)

    stats = bus.stats()
    assert (stats.published, stats.delivered, stats.dropped) == (20, 25, 15)


async def test_publish_sync_from_a_worker_thread(bus: Any) -> None:
    def stage() -> None:
        for i in range(50):
            bus.publish_sync("progress", {"i": i})

    async with bus.subscribe("progress") as messages:
        worker = threading.Thread(target=stage)
        worker.start()
        try:
            assert await take(messages, 50) == [{"i": i} for i in range(50)]
        finally:
            worker.join(TIMEOUT)


async def test_subscribers_get_their_own_copy(bus: EventBus) -> None:
    async with bus.subscribe("news") as first, bus.subscribe("news") as second:
        sent = {"words": ["hello"], "speaker": 1}
        await bus.publish("news", sent)
        sent["words"].append("changed after publishing")
        [a] = await take(first, 1)
        a["words"].append("changed by a subscriber")
        [b] = await take(second, 1)
        assert b == {"words": ["hello"], "speaker": 1}


async def test_rejects_what_is_not_json(bus: EventBus) -> None:
    with pytest.raises(ValueError, match="'news'"):
        await bus.publish("news", {"at": datetime.now(UTC)})
    with pytest.raises(ValueError, match="JSON"):
        await bus.publish("news", {"score": float("nan")})
    with pytest.raises(TypeError, match="dicts"):
        await bus.publish("news", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channel"):
        await bus.publish("", {"a": 1})


async def test_check_and_close(bus: Any) -> None:
    await bus.check()
    async with bus.subscribe("news") as messages:
        await bus.close()
        # An open subscription ends instead of hanging when its bus goes away.
        async with asyncio.timeout(TIMEOUT):
            assert [m async for m in messages] == []
    with pytest.raises(BusError, match="closed"):
        await bus.check()
    with pytest.raises(BusError, match="closed"):
        await bus.publish("news", {"a": 1})


# --- in-memory bus ----------------------------------------------------------------------------


async def test_memory_publish_from_another_event_loop() -> None:
    bus = MemoryBus()

    async def stage() -> None:
        for i in range(5):
            await bus.publish("progress", {"i": i})

    async with bus.subscribe("progress") as messages:
        worker = threading.Thread(target=asyncio.run, args=(stage(),))
        worker.start()
        try:
            assert await take(messages, 5) == [{"i": i} for i in range(5)]
        finally:
            worker.join(TIMEOUT)
    assert bus.subscriber_count() == 0


async def test_memory_publish_does_not_wait_for_a_subscriber_that_never_reads() -> None:
    bus = MemoryBus(backlog=10)
    async with bus.subscribe("captions") as stuck:
        started = time.perf_counter()
        for i in range(5000):
            await bus.publish("captions", {"i": i})
        assert time.perf_counter() - started < 2
        assert (stuck.pending, stuck.dropped) == (10, 4990)
    assert bus.stats().dropped == 4990


# --- Redis bus --------------------------------------------------------------------------------

CHILD_PUBLISHER = """
import os, sys
from reflector.bus import SyncRedisPublisher
with SyncRedisPublisher(sys.argv[1], sys.argv[2]) as publisher:
    print(publisher.publish(sys.argv[3], {"pid": os.getpid(), "text": "héllo from a worker"}))
"""


async def test_redis_delivers_from_another_process(prefix: str) -> None:
    bus = RedisBus(REDIS_URL, prefix)
    await require_redis(bus)
    try:
        message, child_pid = await receive_from_child(bus)
    finally:
        await bus.close()
    assert message == {"pid": child_pid, "text": "héllo from a worker"}
    assert child_pid != os.getpid()


async def receive_from_child(bus: RedisBus) -> tuple[Message, int]:
    async with bus.subscribe("transcript:42") as messages:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD_PUBLISHER,
            REDIS_URL,
            bus.prefix,
            "transcript:42",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(20):
            out, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        assert out.decode().strip() == "1"  # Redis handed it to exactly this subscriber
        [message] = await take(messages, 1)
    return message, child.pid


async def test_sync_publisher_reaches_async_subscribers(prefix: str) -> None:
    bus = RedisBus(REDIS_URL, prefix)
    await require_redis(bus)
    try:
        with SyncRedisPublisher(REDIS_URL, prefix) as publisher:
            publisher.check()
            assert publisher.publish("news", {"i": 0}) == 0  # nobody listening yet
            async with bus.subscribe("news") as first, bus.subscribe("news") as second:
                assert publisher.publish("news", {"i": 1}) == 2
                assert await take(first, 1) == await take(second, 1) == [{"i": 1}]
    finally:
        await bus.close()


async def test_unreachable_redis_fails_fast_with_a_clear_error(prefix: str) -> None:
    port = free_port()
    bus = RedisBus(f"redis://:s3cret@127.0.0.1:{port}/0", prefix)
    errors: list[str] = []
    started = time.perf_counter()
    try:
        with pytest.raises(BusError) as info:
            await bus.check()
        errors.append(str(info.value))
        with pytest.raises(BusError) as info:
            await bus.publish("news", {"a": 1})
        errors.append(str(info.value))
        with pytest.raises(BusError) as info:
            async with bus.subscribe("news"):
                pytest.fail("subscribed to a Redis that is not there")
        errors.append(str(info.value))
        with pytest.raises(BusError) as info:
            await asyncio.to_thread(bus.publish_sync, "news", {"a": 1})
        errors.append(str(info.value))
    finally:
        await bus.close()
    assert time.perf_counter() - started < 3
    assert bus.stats().subscriptions == 0
    for error in errors:
        assert f"redis://:***@127.0.0.1:{port}/0" in error
        assert "s3cret" not in error
        assert "REFLECTOR_REDIS_URL" in error
    assert "ping" in errors[0]
    assert "publish" in errors[1]
    assert "subscribe" in errors[2]


async def test_redis_subscription_ends_with_an_error_when_its_connection_breaks(
    prefix: str, redis_admin: redis.asyncio.Redis
) -> None:
    name = f"reflector-test-{uuid.uuid4().hex[:12]}"
    bus = RedisBus(REDIS_URL, prefix, options=RedisOptions(client_name=name))
    await require_redis(bus)
    try:
        async with bus.subscribe("news") as messages:
            await bus.publish("news", {"i": 1})
            await wait_until(lambda: messages.pending == 1)
            clients = await redis_admin.client_list(_type="pubsub")
            [client_id] = [c["id"] for c in clients if c["name"] == name]
            await redis_admin.client_kill_filter(_id=client_id)
            # What had arrived is still read, then the loss is reported, not hidden.
            assert await take(messages, 1) == [{"i": 1}]
            with pytest.raises(BusError, match="subscription to 'news'"):
                await take(messages, 1)
        # The bus itself goes on working.
        async with bus.subscribe("news") as messages:
            await bus.publish("news", {"i": 2})
            assert await take(messages, 1) == [{"i": 2}]
    finally:
        await bus.close()


async def test_redis_skips_foreign_messages_that_are_not_json_objects(
    prefix: str, redis_admin: redis.asyncio.Redis
) -> None:
    bus = RedisBus(REDIS_URL, prefix)
    await require_redis(bus)
    try:
        async with bus.subscribe("news") as messages:
            await redis_admin.publish(prefix + "news", b"not json")
            await redis_admin.publish(prefix + "news", b"[1, 2]")
            await bus.publish("news", {"ok": True})
            assert await take(messages, 1) == [{"ok": True}]
    finally:
        await bus.close()


# --- construction -----------------------------------------------------------------------------


async def test_make_bus() -> None:
    memory = make_bus("memory", redis_url="redis://ignored:1/0")
    assert isinstance(memory, MemoryBus)
    assert memory.name == "memory"

    default = make_bus("redis")
    assert isinstance(default, RedisBus)
    assert default.safe_url == DEFAULT_REDIS_URL
    await default.close()

    chosen = make_bus("redis", redis_url="redis://:pw@cache.internal:6380/2", backlog=7)
    assert isinstance(chosen, RedisBus)
    assert chosen.safe_url == "redis://:***@cache.internal:6380/2"
    assert chosen.backlog == 7
    await chosen.close()


@pytest.mark.parametrize(
    ("backend", "url", "complaint"),
    [
        ("kafka", None, "REFLECTOR_BUS_BACKEND must be 'memory' or 'redis', got 'kafka'"),
        ("redis", "", "REFLECTOR_REDIS_URL is empty"),
        ("redis", "http://127.0.0.1:6379", "must start with redis://"),
        ("redis", "127.0.0.1:6379", "must start with redis://"),
    ],
)
def test_make_bus_explains_misconfiguration(backend: str, url: str | None, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        make_bus(backend, redis_url=url)  # type: ignore[arg-type]


def test_backlog_must_be_positive() -> None:
    with pytest.raises(ValueError, match="backlog"):
        MemoryBus(backlog=0)
    with pytest.raises(ValueError, match="backlog"):
        make_bus("redis", backlog=-1)


def test_redact_url() -> None:
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://user:p%40ss@h:1/0") == "rediss://user:***@h:1/0"
    assert redact_url("redis://h:1/0?password=pw&db=1") == "redis://h:1/0?password=%2A%2A%2A&db=1"


def test_channel_names() -> None:
    assert transcript_channel("abc") == "transcript:abc"
    assert user_channel("u1") == "user:u1"
