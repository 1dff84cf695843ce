"""Turning a speech request into an answer: validation errors as problems, the cache, timing.

Shared by ``POST /api/tts``, ``POST /v1/audio/speech`` and ``WS /ws/voice``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from reflector.api.problems import Problem
from reflector.api.voice.services import VoiceServices
from reflector.audio.loudness import LoudnessOptions
from reflector.cache import cached_render_async
from reflector.tts import (
    EmptyTextError,
    InvalidSpeechInput,
    RenderedSpeech,
    SpeechRequest,
    SpeechStream,
    TextTooLongError,
    TtsError,
    open_speech_stream,
)
from reflector.tts.types import check_text

_CALLERS_MISTAKES = (TextTooLongError, EmptyTextError, InvalidSpeechInput)
"""Errors whose class names the answer (``status``, ``problem_type``), e.g. 413
``text-too-long``, 400 ``unknown-voice``; sent with the slug as ``code`` too."""


def speech_problem(error: Exception) -> Problem:
    """The problem document for a failed synthesis: the caller's mistake, or ours (503)."""
    if isinstance(error, _CALLERS_MISTAKES):
        return Problem(error.status, error.problem_type, str(error), code=error.problem_type)
    if isinstance(error, TtsError):
        return Problem(503, "speech-unavailable", f"speech synthesis failed: {error}")
    if isinstance(error, ValueError):  # a format, rate or loudness setting out of range
        return Problem(400, "bad-speech-request", str(error), code="bad-speech-request")
    raise error


class SpeechFields(Protocol):
    """What a speech request says, whichever body it came in."""

    @property
    def text(self) -> str: ...
    @property
    def voice(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def speed(self) -> float: ...
    @property
    def format(self) -> str: ...
    @property
    def sample_rate(self) -> int | None: ...


def speech_request(
    max_chars: int, fields: SpeechFields, loudness: LoudnessOptions | None = None
) -> SpeechRequest:
    """A validated request; invalid fields become 400s, too much text a 413."""
    try:
        check_text(fields.text, max_chars)
        return SpeechRequest(
            text=fields.text,
            voice=fields.voice,
            language=fields.language,
            speed=fields.speed,
            format=fields.format,  # type: ignore[arg-type]
            sample_rate=fields.sample_rate,
            loudness=loudness,
        )
    except (ValueError, TtsError) as error:
        raise speech_problem(error) from None


@dataclass(frozen=True)
class SpeechAnswer:
    speech: RenderedSpeech
    cached: bool
    seconds: float


async def render_cached(voice: VoiceServices, request: SpeechRequest) -> SpeechAnswer:
    """The whole audio, from the cache when the same request was rendered before."""
    started = time.perf_counter()
    synthesizer = await voice.shared_synthesizer()
    try:
        speech, hit = await cached_render_async(voice.cache, synthesizer, request)
    except (TtsError, ValueError) as error:
        raise speech_problem(error) from None
    return SpeechAnswer(speech, hit, time.perf_counter() - started)


async def open_stream(voice: VoiceServices, request: SpeechRequest) -> SpeechStream:
    """Start streaming sentence by sentence; errors in the first sentence are raised here,
    before any byte of the answer is sent."""
    synthesizer = await voice.shared_synthesizer()
    try:
        return await asyncio.to_thread(open_speech_stream, synthesizer, request, fast_start=True)
    except (TtsError, ValueError) as error:
        raise speech_problem(error) from None
