"""What the voice endpoints share: the recogniser, the synthesiser, the speech cache, the
translator, circuit breakers of remote backends, and request statistics. Built once per app;
models load lazily, on first use, and are then shared by every request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reflector.api.voice.request_stats import RequestStats
from reflector.cache import AsyncSpeechCache, async_speech_cache_from_settings
from reflector.pipelines.speech import RecognizerConfig, SpeechRecognizer
from reflector.resilience import BreakerBoard
from reflector.settings import Settings
from reflector.tts import SpeechSynthesizer, build_synthesizer

if TYPE_CHECKING:
    from reflector.translation import Translator

RECOGNITION_MODELS = ("whisper-1", "base", "tiny.en")
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "piper", "espeak-ng")
"""``/v1/audio/speech`` accepts any of these; the voice, not the model, picks the backend."""


@dataclass
class VoiceServices:
    settings: Settings
    recognizer: SpeechRecognizer
    cache: AsyncSpeechCache
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    stats: RequestStats = field(default_factory=RequestStats)
    fallbacks: dict[str, int] = field(default_factory=dict)
    """Calls a local backend answered because the remote one failed, by remote backend, named
    like its breaker (``tts-openai``, ``translation-remote``)."""
    _synthesizer: SpeechSynthesizer | None = None
    _translator: Translator | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def model_ids(self) -> list[str]:
        return [*RECOGNITION_MODELS, *SPEECH_MODELS]

    def synthesizer(self) -> SpeechSynthesizer:
        with self._lock:
            if self._synthesizer is None:
                count = self._fallback_counter("tts")
                self._synthesizer = build_synthesizer(
                    self.settings, self.breakers, on_fallback=count
                )
            return self._synthesizer

    async def shared_synthesizer(self) -> SpeechSynthesizer:
        """:meth:`synthesizer` from async code: built in a thread the first time (it asks
        eSpeak NG for its voices), then handed out with no thread hop (cache hits are fast)."""
        if self._synthesizer is not None:
            return self._synthesizer
        return await asyncio.to_thread(self.synthesizer)

    def translator(self) -> Translator:
        # Imported on first use: it brings in the LLM engine, seconds of start-up nobody needs
        # unless something is translated.
        from reflector.translation import build_translator

        with self._lock:
            if self._translator is None:
                count = self._fallback_counter("translation")
                self._translator = build_translator(self.settings, self.breakers, on_fallback=count)
            return self._translator

    def _fallback_counter(self, kind: str) -> Callable[[str, Exception], None]:
        """Counts each fallback from the remote ``kind`` backend ``name`` as ``kind-name``."""

        def count(name: str, error: Exception) -> None:
            backend = f"{kind}-{name}"
            self.fallbacks[backend] = self.fallbacks.get(backend, 0) + 1

        return count


def build_voice_services(settings: Settings) -> VoiceServices:
    recognizer = SpeechRecognizer(
        RecognizerConfig(
            data_dir=settings.data_dir,
            asr=settings.asr_options(settings.stt_model),
            diarization_backend=settings.diarization_backend,
            diarization_url=settings.diarization_url,
            diarization_api_key=settings.diarization_api_key,
        )
    )
    return VoiceServices(
        settings=settings,
        recognizer=recognizer,
        cache=async_speech_cache_from_settings(settings),
        breakers=BreakerBoard(settings.breaker_failures, settings.breaker_reset_seconds),
    )
