"""A remote synthesizer with a local one behind it: speech keeps coming when the server fails.

The remote side is tried first. When its circuit breaker is open (it failed repeatedly, so it
is not waited on) or a call fails, the local side speaks instead, with its default voice for the
language. The breaker itself probes the remote side back: after its reset timeout one request
goes to the server again, and success closes it. Mistakes in the request (empty text, bad
speed) are the caller's and are raised, never hidden by a fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from reflector.tts.text import split_sentences
from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    RemoteTtsError,
    SpeechAudio,
    SpeechSynthesizer,
    Voice,
)

FallbackListener = Callable[[str, Exception], None]
"""Told the primary's name and the error each time the fallback speaks instead."""


class FallbackSynthesizer(SpeechSynthesizer):
    def __init__(
        self,
        primary: SpeechSynthesizer,
        fallback: SpeechSynthesizer,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = primary.name
        self.max_chars = max_chars
        self.on_fallback = on_fallback
        self._lock = threading.Lock()
        self.fallbacks = 0
        """Calls (or sentences) the fallback has spoken so far."""

    def voices(self) -> list[Voice]:
        return [*self.primary.voices(), *self.fallback.voices()]

    def supports(self, language: str) -> bool:
        return self.primary.supports(language) or self.fallback.supports(language)

    def _fell_back(self, error: Exception) -> None:
        with self._lock:
            self.fallbacks += 1
        if self.on_fallback is not None:
            self.on_fallback(self.primary.name, error)

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        try:
            return self.primary.synthesize(text, voice=voice, language=language, speed=speed)
        except RemoteTtsError as error:
            self._fell_back(error)
        # The remote voice means nothing locally: the local default for the language speaks.
        return self.fallback.synthesize(text, voice=None, language=language, speed=speed)

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        return self._sentences(split_sentences(text), voice, language, speed)

    def _sentences(
        self, sentences: list[str], voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        for index, sentence in enumerate(sentences):
            try:
                yield self.primary.synthesize(sentence, voice=voice, language=language, speed=speed)
            except RemoteTtsError as error:
                self._fell_back(error)
                # Once fallen back, the rest of this text keeps one (local) voice.
                rest = " ".join(sentences[index:])
                yield from self.fallback.stream(rest, voice=None, language=language, speed=speed)
                return
