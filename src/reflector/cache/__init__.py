"""Cache of synthesized speech: in-process LRU (embedded) or Redis with a TTL (scaled out)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from reflector.cache.keys import normalise_text, speech_cache_key
from reflector.cache.memory import AsyncCacheAdapter, MemorySpeechCache
from reflector.cache.protocol import AsyncSpeechCache, CacheError, CacheStats, SpeechCache
from reflector.cache.redis import (
    DEFAULT_CACHE_PREFIX,
    AsyncRedisSpeechCache,
    RedisSpeechCache,
)
from reflector.cache.speech import (
    cached_render,
    cached_render_async,
    pack_speech,
    request_cache_key,
    unpack_speech,
)

if TYPE_CHECKING:
    from reflector.settings import Settings

CacheBackend = Literal["memory", "redis"]

__all__ = [
    "DEFAULT_CACHE_PREFIX",
    "AsyncCacheAdapter",
    "AsyncRedisSpeechCache",
    "AsyncSpeechCache",
    "CacheBackend",
    "CacheError",
    "CacheStats",
    "MemorySpeechCache",
    "RedisSpeechCache",
    "SpeechCache",
    "async_speech_cache_from_settings",
    "cached_render",
    "cached_render_async",
    "normalise_text",
    "pack_speech",
    "request_cache_key",
    "speech_cache_from_settings",
    "speech_cache_key",
    "unpack_speech",
]


def _check_backend(backend: str) -> None:
    if backend not in ("memory", "redis"):
        raise ValueError(
            f"REFLECTOR_TTS_CACHE_BACKEND must be 'memory' or 'redis', got {backend!r}"
        )


def speech_cache_from_settings(
    settings: Settings, prefix: str = DEFAULT_CACHE_PREFIX
) -> SpeechCache:
    """The blocking cache ``REFLECTOR_TTS_CACHE_*`` describe (CLI, worker threads)."""
    _check_backend(settings.tts_cache_backend)
    if settings.tts_cache_backend == "redis":
        return RedisSpeechCache(settings.redis_url, prefix, settings.tts_cache_ttl_seconds)
    return MemorySpeechCache(
        settings.tts_cache_max_items,
        settings.tts_cache_max_bytes,
        settings.tts_cache_ttl_seconds,
    )


def async_speech_cache_from_settings(
    settings: Settings, prefix: str = DEFAULT_CACHE_PREFIX
) -> AsyncSpeechCache:
    """The async cache ``REFLECTOR_TTS_CACHE_*`` describe (the server)."""
    if settings.tts_cache_backend != "redis":
        # The blocking cache behind an adapter; it also refuses an unknown backend name.
        return AsyncCacheAdapter(speech_cache_from_settings(settings, prefix))
    return AsyncRedisSpeechCache(settings.redis_url, prefix, settings.tts_cache_ttl_seconds)
