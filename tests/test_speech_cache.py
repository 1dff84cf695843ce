"""The speech cache: keys, the in-memory LRU, and Redis (the real server at 127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterator

import pydantic
import pytest
import redis

from reflector.audio import LoudnessOptions, decode_audio_bytes
from reflector.cache import (
    AsyncCacheAdapter,
    AsyncRedisSpeechCache,
    CacheError,
    MemorySpeechCache,
    RedisSpeechCache,
    SpeechCache,
    async_speech_cache_from_settings,
    cached_render,
    cached_render_async,
    normalise_text,
    pack_speech,
    request_cache_key,
    speech_cache_from_settings,
    speech_cache_key,
    unpack_speech,
)
from reflector.settings import Settings
from reflector.tts import EspeakSynthesizer, SpeechRequest, open_speech_stream
from reflector_testkit.ports import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix no other test uses; everything under it is deleted afterwards."""
    name = f"reflector-test:tts:{uuid.uuid4().hex}:"
    yield name
    admin = redis.Redis.from_url(REDIS_URL)
    keys = list(admin.scan_iter(match=name + "*"))
    if keys:
        admin.delete(*keys)
    admin.close()


@pytest.fixture
def redis_cache(prefix) -> Iterator[RedisSpeechCache]:
    cache = RedisSpeechCache(REDIS_URL, prefix, ttl_seconds=60)
    cache.check()  # Redis must be running: fail loudly, not skip
    yield cache
    cache.close()


@pytest.fixture
async def async_redis_cache(prefix) -> AsyncIterator[AsyncRedisSpeechCache]:
    cache = AsyncRedisSpeechCache(REDIS_URL, prefix, ttl_seconds=60)
    await cache.check()
    yield cache
    await cache.aclose()


@pytest.fixture(scope="module")
def espeak() -> EspeakSynthesizer:
    return EspeakSynthesizer()


# -- keys -------------------------------------------------------------------------------------


def test_key_ignores_unicode_form_and_whitespace() -> None:
    composed = "Buenos días,   señor\n\tGarcía."
    decomposed = unicodedata.normalize("NFD", " Buenos días, señor García. ")
    assert composed != decomposed
    assert normalise_text(composed) == normalise_text(decomposed) == "Buenos días, señor García."
    key = speech_cache_key(composed, "espeak:es", {"format": "mp3"})
    assert key == speech_cache_key(decomposed, "ESPEAK:ES ", {"format": "mp3"})
    assert len(key) == 64 and int(key, 16) >= 0


def test_key_changes_with_voice_and_every_option() -> None:
    base = SpeechRequest("Hello there.", voice="joe")
    variants = [
        SpeechRequest("Hello there!", voice="joe"),
        SpeechRequest("Hello there.", voice="espeak:en-us"),
        SpeechRequest("Hello there.", voice="joe", format="wav"),
        SpeechRequest("Hello there.", voice="joe", speed=1.25),
        SpeechRequest("Hello there.", voice="joe", language="en"),
        SpeechRequest("Hello there.", voice="joe", sample_rate=24000),
        SpeechRequest("Hello there.", voice="joe", loudness=LoudnessOptions(-20.0)),
        SpeechRequest("Hello there.", voice="joe", loudness=LoudnessOptions(-20.0, compress=True)),
    ]
    keys = {request_cache_key(r, "local") for r in [base, *variants]}
    assert len(keys) == 1 + len(variants)
    assert request_cache_key(base, "local") != request_cache_key(base, "openai")
    assert request_cache_key(base, "local") == request_cache_key(
        SpeechRequest("Hello   there.", voice="joe"), "local"
    )


# -- in-memory LRU ----------------------------------------------------------------------------


def test_memory_cache_counts_hits_and_misses() -> None:
    cache = MemorySpeechCache(max_items=10)
    assert isinstance(cache, SpeechCache)
    assert cache.get("a") is None
    cache.put("a", b"audio-a")
    assert cache.get("a") == b"audio-a"
    assert cache.get("a") == b"audio-a"
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.items, stats.bytes) == (2, 1, 1, 7)
    assert stats.hit_rate == pytest.approx(2 / 3)


def test_memory_cache_evicts_the_least_recently_used_item() -> None:
    cache = MemorySpeechCache(max_items=3)
    for key in "abc":
        cache.put(key, key.encode())
    cache.get("a")  # now "b" is the least recently used
    cache.put("d", b"d")
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert cache.stats().evictions == 1 and cache.stats().items == 3


def test_memory_cache_stays_under_its_byte_limit() -> None:
    cache = MemorySpeechCache(max_items=100, max_bytes=1000)
    for index in range(5):
        cache.put(str(index), bytes(300))
    assert cache.stats().bytes <= 1000 and cache.stats().items == 3
    assert cache.get("0") is None and cache.get("4") is not None
    cache.put("huge", bytes(1001))  # larger than the whole cache: not stored, nothing evicted
    assert cache.get("huge") is None and cache.stats().items == 3


def test_memory_cache_entries_expire_after_the_ttl() -> None:
    now = [1000.0]
    cache = MemorySpeechCache(ttl_seconds=60, clock=lambda: now[0])
    cache.put("a", b"audio")
    now[0] += 59
    assert cache.get("a") == b"audio"
    now[0] += 2
    assert cache.get("a") is None and cache.stats().items == 0


def test_memory_cache_is_safe_across_threads() -> None:
    cache = MemorySpeechCache(max_items=50, max_bytes=50 * 100)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(2000):
                key = f"{(worker * 7 + index) % 80}"
                data = cache.get(key)
                assert data is None or data == key.encode() * 10
                cache.put(key, key.encode() * 10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert not errors
    assert stats.hits + stats.misses == 8 * 2000
    assert stats.items <= 50 and stats.bytes == sum(
        len(cache.get(k) or b"") for k in map(str, range(80))
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [({"max_items": 0}, "must be positive"), ({"ttl_seconds": -1}, "ttl_seconds")],
)
def test_memory_cache_rejects_bad_limits(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        MemorySpeechCache(**options)


# -- Redis ------------------------------------------------------------------------------------


def test_redis_cache_stores_with_a_ttl(redis_cache, prefix) -> None:
    assert redis_cache.get("k1") is None
    redis_cache.put("k1", b"\x00\xffaudio")
    assert redis_cache.get("k1") == b"\x00\xffaudio"
    assert 55 <= (redis_cache.ttl("k1") or 0) <= 60
    admin = redis.Redis.from_url(REDIS_URL)
    assert admin.get(prefix + "k1") == b"\x00\xffaudio"  # really in Redis, under the prefix
    admin.close()
    stats = redis_cache.stats()
    assert (stats.backend, stats.hits, stats.misses, stats.items) == ("redis", 1, 1, 1)
    assert stats.hit_rate == 0.5


def test_redis_entries_expire(prefix) -> None:
    cache = RedisSpeechCache(REDIS_URL, prefix, ttl_seconds=1)
    cache.put("short", b"audio")
    assert cache.get("short") == b"audio"
    time.sleep(1.3)
    assert cache.get("short") is None
    cache.close()


def test_redis_cache_is_shared_between_clients_and_cleared_by_prefix(redis_cache, prefix) -> None:
    other = RedisSpeechCache(REDIS_URL, prefix)
    unrelated = RedisSpeechCache(REDIS_URL, prefix.rstrip(":") + "-other:")
    redis_cache.put("shared", b"one")
    unrelated.put("shared", b"two")
    assert other.get("shared") == b"one" and unrelated.get("shared") == b"two"
    redis_cache.clear()
    assert other.get("shared") is None
    assert unrelated.get("shared") == b"two"  # another prefix is left alone
    unrelated.clear()
    other.close()
    unrelated.close()


def test_unreachable_redis_is_a_miss_not_a_failure() -> None:
    cache = RedisSpeechCache(f"redis://127.0.0.1:{free_port()}/0", "reflector-test:")
    assert cache.get("k") is None
    cache.put("k", b"audio")  # dropped, not raised: speech works without its cache
    stats = cache.stats()
    assert (stats.misses, stats.errors) == (1, 2)
    with pytest.raises(CacheError, match="unreachable"):
        cache.check()
    cache.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"url": "http://127.0.0.1:6379"}, "redis://"), ({"prefix": ""}, "prefix"),
     ({"ttl_seconds": 0}, "ttl_seconds")],
)  # fmt: skip
def test_redis_cache_rejects_bad_options(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        RedisSpeechCache(**{"url": REDIS_URL, "prefix": "p:", **options})


@pytest.mark.anyio
async def test_async_redis_cache(async_redis_cache) -> None:
    assert await async_redis_cache.get("a") is None
    await async_redis_cache.put("a", b"audio")
    assert await async_redis_cache.get("a") == b"audio"
    assert 55 <= (await async_redis_cache.ttl("a") or 0) <= 60
    stats = await async_redis_cache.stats()
    assert (stats.hits, stats.misses, stats.items) == (1, 1, 1)
    await async_redis_cache.clear()
    assert (await async_redis_cache.stats()).items == 0


# -- caching rendered speech ------------------------------------------------------------------


def test_cached_render_synthesizes_once(espeak) -> None:
    cache = MemorySpeechCache()
    request = SpeechRequest("Hola a todos.", voice="espeak:es", format="wav")
    first, hit = cached_render(cache, espeak, request)
    assert not hit
    # The same text with other spacing, the voice id in other case: the same entry.
    same = SpeechRequest("Hola  a todos. ", voice="ESPEAK:es", format="wav")
    again, hit = cached_render(cache, espeak, same)
    assert hit and again == first
    samples, rate = decode_audio_bytes(again.data, "wav")
    assert rate == again.sample_rate and len(samples) / rate == pytest.approx(again.duration)
    other, hit = cached_render(cache, espeak, SpeechRequest("Hola a todos.", voice="espeak:es",
                                                            format="mp3"))  # fmt: skip
    assert not hit and other.media_type == "audio/mpeg"
    assert cache.stats().hits == 1 and cache.stats().misses == 2


def test_a_finished_stream_is_cached_and_served_whole(redis_cache, espeak) -> None:
    request = SpeechRequest("Uno. Dos. Tres.", voice="espeak:es", format="mp3")
    key = request_cache_key(request, espeak.name)
    stream = open_speech_stream(espeak, request)
    sent = list(stream)
    assert len(sent) >= 3  # the listener got audio sentence by sentence
    redis_cache.put(key, pack_speech(stream.as_rendered(b"".join(sent))))
    cached = unpack_speech(redis_cache.get(key) or b"")
    assert cached is not None and cached.data == b"".join(sent)
    assert cached.media_type == "audio/mpeg" and cached.duration == stream.duration
    samples, rate = decode_audio_bytes(cached.data, "mp3")
    assert len(samples) / rate == pytest.approx(stream.duration, abs=0.15)
    assert unpack_speech(b"not an entry") is None


@pytest.mark.anyio
async def test_cached_render_async_through_redis(async_redis_cache, espeak) -> None:
    request = SpeechRequest("Bonjour à tous.", voice="espeak:fr-fr", format="pcm",
                            sample_rate=24000)  # fmt: skip
    first, hit = await cached_render_async(async_redis_cache, espeak, request)
    assert not hit and first.media_type == "audio/L16;rate=24000;channels=1"
    # Another server process (a second client on the same Redis) is served from the cache.
    other = AsyncRedisSpeechCache(REDIS_URL, async_redis_cache.prefix)
    second, hit = await cached_render_async(other, espeak, request)
    await other.aclose()
    assert hit and second == first


@pytest.mark.anyio
async def test_caches_from_settings(prefix) -> None:
    memory = async_speech_cache_from_settings(Settings(tts_cache_max_items=2))
    assert isinstance(memory, AsyncCacheAdapter)
    for key in "abc":
        await memory.put(key, b"x")
    assert (await memory.stats()).items == 2

    settings = Settings(tts_cache_backend="redis", redis_url=REDIS_URL, tts_cache_ttl_seconds=30)
    shared = async_speech_cache_from_settings(settings, prefix)
    blocking = speech_cache_from_settings(settings, prefix)
    await shared.put("k", b"audio")
    assert await asyncio.to_thread(blocking.get, "k") == b"audio"
    assert 25 <= (blocking.ttl("k") or 0) <= 30
    await shared.aclose()
    blocking.close()


def test_unknown_cache_backend_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="'memory' or 'redis'"):
        Settings(tts_cache_backend="disk")
