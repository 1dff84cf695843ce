"""Data shared by the speech synthesis backends: audio, voices, errors, input checks and the
base class every backend derives from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reflector.errors import (
    BadInputError,
    EmptyTextError,
    ReflectorError,
    RemoteUnavailableError,
    TextTooLongError,
    UnavailableError,
)

MIN_SPEED = 0.25
MAX_SPEED = 4.0
DEFAULT_MAX_CHARS = 4096
"""Longest text one request may synthesize (``REFLECTOR_MAX_TTS_CHARS``)."""


class TtsError(ReflectorError):
    """Synthesis failed; the message is meant for people."""

    status = 503
    problem_type = "speech-unavailable"


class InvalidSpeechInput(TtsError, BadInputError, ValueError):
    """The request itself is wrong (the caller's mistake, HTTP 4xx); never retried or re-routed."""

    status = 400
    problem_type = "bad-speech-request"


class EmptySpeechError(EmptyTextError, InvalidSpeechInput):
    """The text has nothing to say (empty or only whitespace)."""


class SpeechTooLongError(TextTooLongError, InvalidSpeechInput):
    """The text is longer than the configured limit."""


class InvalidSpeedError(InvalidSpeechInput):
    """The speed is outside 0.25 to 4.0 (or not a number)."""

    problem_type = "bad-speed"


class UnknownVoiceError(InvalidSpeechInput):
    """No backend has a voice with this id."""

    problem_type = "unknown-voice"


class UnsupportedLanguageError(InvalidSpeechInput):
    """No voice speaks this language, or the chosen voice speaks another one."""

    problem_type = "unsupported-language"


class RemoteTtsError(TtsError, UnavailableError):
    """A remote speech server failed or answered with something unusable."""


class SpeechServerUnavailableError(RemoteUnavailableError, RemoteTtsError):
    """The remote speech server failed repeatedly; its circuit breaker is open."""


@dataclass(frozen=True)
class SpeechAudio:
    samples: np.ndarray
    """Mono float32 in [-1, 1]."""
    sample_rate: int
    text: str = ""
    """What this audio says (one sentence when it comes from ``stream``)."""

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Voice:
    id: str
    """Unique across backends: ``joe`` (Piper), ``espeak:es`` (eSpeak NG), ``openai:alloy``..."""
    name: str
    """For people: ``Joe (US English)``."""
    language: str
    """BCP 47-ish language tag as the backend names it: ``en-us``, ``es``, ``pt-br``."""
    backend: str
    """``piper``, ``espeak``, ``openai`` or ``elevenlabs``."""


class SpeechSynthesizer:
    """Text to speech; every backend and the router derive from this.

    ``voice`` is a :attr:`Voice.id` (``None`` means the default voice for ``language``);
    ``language`` is a language code such as ``en`` or ``pt-BR`` (``None``: the voice's
    language, or English); ``speed`` 1.0 is normal, 0.25 to 4.0 is accepted.

    :meth:`synthesize` and :meth:`stream` check the text and speed here, once
    (:func:`check_text`, :func:`check_speed`); a backend implements :meth:`_synthesize` and
    :meth:`_stream`, which get the stripped text and the speed as a float. ``_stream`` returns
    its iterator at once (a plain function returning a generator), so voice and language
    mistakes raise when :meth:`stream` is called, not at the first sentence.
    """

    name: str
    max_chars: int = DEFAULT_MAX_CHARS

    def voices(self) -> list[Voice]:
        raise NotImplementedError

    def supports(self, language: str) -> bool:
        raise NotImplementedError

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> SpeechAudio:
        text, speed = check_text(text, self.max_chars), check_speed(speed)
        return self._synthesize(text, voice, language, speed)

    def stream(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> Iterator[SpeechAudio]:
        """Audio sentence by sentence: the first one arrives before the rest are synthesized."""
        text, speed = check_text(text, self.max_chars), check_speed(speed)
        return self._stream(text, voice, language, speed)

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        raise NotImplementedError

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        raise NotImplementedError


def check_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``text`` stripped, or :class:`EmptyTextError` / :class:`TextTooLongError`."""
    if not isinstance(text, str):
        raise EmptySpeechError(f"text must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise EmptySpeechError("the text is empty: there is nothing to say")
    if not any(ch.isalnum() for ch in stripped):
        raise EmptySpeechError(
            "the text has nothing to speak: it holds no letters or digits, only punctuation "
            "or symbols"
        )
    if len(stripped) > max_chars:
        raise SpeechTooLongError(
            f"the text is {len(stripped)} characters long; the limit is {max_chars} "
            "(REFLECTOR_MAX_TTS_CHARS): split it into several requests"
        )
    return stripped


def check_speed(speed: float) -> float:
    """``speed`` as a float, or :class:`InvalidSpeedError`."""
    try:
        value = float(speed)
    except (TypeError, ValueError):
        raise InvalidSpeedError(f"speed must be a number, got {speed!r}") from None
    if not (MIN_SPEED <= value <= MAX_SPEED):  # also rejects NaN
        raise InvalidSpeedError(
            f"speed must be between {MIN_SPEED} and {MAX_SPEED} (1.0 is normal), got {speed!r}"
        )
    return value


def base_language(language: str) -> str:
    """``pt-BR`` → ``pt``; ``en_US`` → ``en`` (lower case)."""
    return language.strip().lower().replace("_", "-").split("-")[0]
