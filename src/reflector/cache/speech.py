"""Caching rendered speech: the key for a request, and the bytes stored per entry.

An entry keeps the audio with what is needed to answer from it (format, media type, sample
rate, duration), so a hit is served exactly like the rendering it came from.
"""

from __future__ import annotations

import asyncio
import json
import struct

from reflector.cache.keys import speech_cache_key
from reflector.cache.protocol import AsyncSpeechCache, SpeechCache
from reflector.tts.render import RenderedSpeech, SpeechRequest, render_speech
from reflector.tts.types import SpeechSynthesizer

_MAGIC = b"RFS1"


def request_cache_key(request: SpeechRequest, backend: str) -> str:
    """The key of ``request`` rendered by the synthesizer named ``backend``
    (:attr:`SpeechSynthesizer.name`: switching backends never serves the old voice)."""
    return speech_cache_key(
        request.text, request.voice, {**request.cache_options(), "backend": backend}
    )


def pack_speech(speech: RenderedSpeech) -> bytes:
    meta = json.dumps(
        {
            "format": speech.format,
            "media_type": speech.media_type,
            "sample_rate": speech.sample_rate,
            "duration": speech.duration,
        }
    ).encode()
    return _MAGIC + struct.pack("<I", len(meta)) + meta + speech.data


def unpack_speech(blob: bytes) -> RenderedSpeech | None:
    """The entry's speech, or ``None`` for bytes not written by :func:`pack_speech`."""
    if len(blob) < 8 or not blob.startswith(_MAGIC):
        return None
    (size,) = struct.unpack("<I", blob[4:8])
    try:
        meta = json.loads(blob[8 : 8 + size])
    except ValueError:
        return None
    return RenderedSpeech(
        blob[8 + size :], meta["format"], meta["media_type"], meta["sample_rate"], meta["duration"]
    )


def cached_render(
    cache: SpeechCache, synthesizer: SpeechSynthesizer, request: SpeechRequest
) -> tuple[RenderedSpeech, bool]:
    """``(speech, hit)``: from the cache, or rendered and then stored."""
    key = request_cache_key(request, synthesizer.name)
    blob = cache.get(key)
    found = unpack_speech(blob) if blob is not None else None
    if found is not None:
        return found, True
    speech = render_speech(synthesizer, request)
    cache.put(key, pack_speech(speech))
    return speech, False


async def cached_render_async(
    cache: AsyncSpeechCache, synthesizer: SpeechSynthesizer, request: SpeechRequest
) -> tuple[RenderedSpeech, bool]:
    """The async twin of :func:`cached_render`; synthesis runs in a worker thread."""
    key = request_cache_key(request, synthesizer.name)
    blob = await cache.get(key)
    found = unpack_speech(blob) if blob is not None else None
    if found is not None:
        return found, True
    speech = await asyncio.to_thread(render_speech, synthesizer, request)
    await cache.put(key, pack_speech(speech))
    return speech, False
