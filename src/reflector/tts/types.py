"""Data shared by the speech synthesis backends: audio, voices, errors and the protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

MIN_SPEED = 0.25
MAX_SPEED = 4.0
DEFAULT_MAX_CHARS = 4096
"""Longest text one request may synthesize (``REFLECTOR_MAX_TTS_CHARS``)."""


class TtsError(Exception):
    """Synthesis failed; the message is meant for people."""


class InvalidSpeechInput(TtsError, ValueError):
    """The request itself is wrong (the caller's mistake, HTTP 4xx); never retried or re-routed."""


class EmptyTextError(InvalidSpeechInput):
    """The text has nothing to say (empty or only whitespace)."""


class TextTooLongError(InvalidSpeechInput):
    """The text is longer than the configured limit."""


class InvalidSpeedError(InvalidSpeechInput):
    """The speed is outside 0.25 to 4.0 (or not a number)."""


class UnknownVoiceError(InvalidSpeechInput):
    """No backend has a voice with this id."""


class UnsupportedLanguageError(InvalidSpeechInput):
    """No voice speaks this language, or the chosen voice speaks another one."""


class RemoteTtsError(TtsError):
    """A remote speech server failed or answered with something unusable."""


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


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """Text to speech; every backend and the router implement this.

    ``voice`` is a :attr:`Voice.id` (``None`` means the default voice for ``language``);
    ``language`` is a language code such as ``en`` or ``pt-BR`` (``None``: the voice's
    language, or English); ``speed`` 1.0 is normal, 0.25 to 4.0 is accepted.
    """

    name: str

    def voices(self) -> list[Voice]: ...

    def supports(self, language: str) -> bool: ...

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> SpeechAudio: ...

    def stream(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> Iterator[SpeechAudio]:
        """Audio sentence by sentence: the first one arrives before the rest are synthesized."""
        ...


def check_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``text`` stripped, or :class:`EmptyTextError` / :class:`TextTooLongError`."""
    if not isinstance(text, str):
        raise EmptyTextError(f"text must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise EmptyTextError("the text is empty: there is nothing to say")
    if not any(ch.isalnum() for ch in stripped):
        raise EmptyTextError(
            "the text has nothing to speak: it holds no letters or digits, only punctuation "
            "or symbols"
        )
    if len(stripped) > max_chars:
        raise TextTooLongError(
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
