"""Choosing a backend per request: Piper for English, eSpeak NG for the other languages, and a
remote server (behind a local fallback) when one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from reflector.resilience import BreakerBoard, RetryPolicy
from reflector.tts.espeak import ESPEAK_PREFIX, EspeakSynthesizer, list_espeak_voices
from reflector.tts.fallback import FallbackListener, FallbackSynthesizer
from reflector.tts.piper import PIPER_VOICE_ALIASES, PIPER_VOICE_ID, PiperSynthesizer, PiperTts
from reflector.tts.remote import (
    ELEVENLABS_DEFAULT_MODEL,
    ELEVENLABS_DEFAULT_VOICE,
    ELEVENLABS_URL,
    OPENAI_VOICE_NAMES,
    ElevenLabsSynthesizer,
    OpenAiSpeechSynthesizer,
)
from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    SpeechAudio,
    SpeechSynthesizer,
    UnknownVoiceError,
    UnsupportedLanguageError,
    Voice,
)

REMOTE_PREFIXES = ("openai:", "elevenlabs:", "remote:")


@dataclass(frozen=True)
class Route:
    """Where one request goes: a backend and the voice id that backend understands."""

    backend: SpeechSynthesizer
    voice: str | None
    language: str | None


class SpeechRouter(SpeechSynthesizer):
    """The :class:`~reflector.tts.types.SpeechSynthesizer` the server and CLI use.

    Voice ids (see :meth:`voices`): ``joe`` (Piper, English), ``espeak:<lang>`` or a bare
    language code such as ``es`` (eSpeak NG), OpenAI's names (``alloy``, ``nova``, ...) which
    the local backends answer with their default voice for the language, and, when a remote
    backend is configured, ``openai:<name>`` / ``elevenlabs:<voice id>`` or any other id the
    remote server knows.
    """

    def __init__(
        self,
        *,
        english: SpeechSynthesizer,
        other: SpeechSynthesizer,
        remote: SpeechSynthesizer | None = None,
        default_voice: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.english, self.other, self.remote = english, other, remote
        self.default_voice = default_voice or None
        self.max_chars = max_chars
        self.name = remote.name if remote is not None else "local"

    # -- voices ------------------------------------------------------------------------------

    def voices(self) -> list[Voice]:
        local = [*self.english.voices(), *self.other.voices()]
        if self.remote is None:
            return local
        remote = [v for v in self.remote.voices() if v.backend not in ("piper", "espeak")]
        return [*remote, *local]

    def supports(self, language: str) -> bool:
        if self.remote is not None:
            return True
        return self.english.supports(language) or self.other.supports(language)

    def _local_for_language(self, language: str | None) -> Route:
        if language is None or self.english.supports(language):
            return Route(self.english, None, language)
        if self.other.supports(language):
            return Route(self.other, None, language)
        raise UnsupportedLanguageError(f"no voice on this server speaks {language!r}")

    def _speaks(self, route: Route, language: str) -> bool:
        """Whether the voice of ``route`` (not just its backend) speaks ``language``."""
        if isinstance(route.backend, EspeakSynthesizer) and route.voice is not None:
            try:
                route.backend.resolve(route.voice, language)
            except UnsupportedLanguageError:
                return False
            return True
        return route.backend.supports(language)

    def _is_language_code(self, key: str) -> bool:
        # A language tag: "es", "pt-br", "zh-yue", "es-419"; subtags after the language are
        # short, so a mistyped voice id such as "no-such-voice" is not read as Norwegian.
        base, *subtags = key.replace("_", "-").split("-")
        return (
            len(base) in (2, 3)
            and base.isalpha()
            and all(0 < len(tag) <= 4 and tag.isalnum() for tag in subtags)
            and self.other.supports(key)
        )

    def resolve(self, voice: str | None, language: str | None) -> Route:
        """The backend and backend voice for a request (raises for unknown voices)."""
        requested = (voice or "").strip()
        if not requested and self.default_voice:
            default = self.resolve(self.default_voice, None)
            if language is None or self._speaks(default, language):
                return Route(default.backend, default.voice, language)
            # The default voice does not speak this language: choose by language below.
        if not requested:
            if self.remote is not None:
                return Route(self.remote, None, language)
            return self._local_for_language(language)
        key = requested.lower()
        if key in OPENAI_VOICE_NAMES:
            if self.remote is not None:
                # An OpenAI-compatible server knows these names; ElevenLabs uses its default.
                return Route(self.remote, key if self.remote.name == "openai" else None, language)
            # OpenAI clients always send a voice name: answer with the local default.
            if self.default_voice and self.default_voice.lower() not in OPENAI_VOICE_NAMES:
                return self.resolve(None, language)
            return self._local_for_language(language)
        if key.startswith(REMOTE_PREFIXES):
            if self.remote is None:
                raise UnknownVoiceError(
                    f"voice {requested!r} is a remote voice, and no remote speech server is "
                    "configured (REFLECTOR_TTS_BACKEND=openai or elevenlabs)"
                )
            return Route(self.remote, requested.split(":", 1)[1], language)
        if key in PIPER_VOICE_ALIASES:
            return Route(self.english, PIPER_VOICE_ID, language)
        if key.startswith(ESPEAK_PREFIX):
            return Route(self.other, requested, language)
        if self._is_language_code(key):
            # A bare language code: English goes to Piper, the rest to eSpeak NG.
            if self.english.supports(key):
                return Route(self.english, None, language or key)
            return Route(self.other, key, language)
        if self.remote is not None:
            return Route(self.remote, requested, language)  # e.g. an ElevenLabs voice id
        raise UnknownVoiceError(
            f"unknown voice {requested!r}; available: {PIPER_VOICE_ID!r} (English), "
            "'espeak:<language>' such as 'espeak:es', or a language code such as 'fr'"
        )

    # -- speaking ----------------------------------------------------------------------------

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        route = self.resolve(voice, language)
        return route.backend.synthesize(
            text, voice=route.voice, language=route.language, speed=speed
        )

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        route = self.resolve(voice, language)
        return route.backend.stream(text, voice=route.voice, language=route.language, speed=speed)


class TtsConfig(Protocol):
    """The settings :func:`build_synthesizer` reads (``reflector.settings.Settings`` has them)."""

    max_tts_chars: int
    tts_backend: str
    tts_default_voice: str | None
    tts_url: str | None
    tts_api_key: str | None
    tts_model: str | None


def build_synthesizer(
    config: TtsConfig,
    breakers: BreakerBoard,
    *,
    piper: PiperTts | None = None,
    client: httpx.Client | None = None,
    policy: RetryPolicy | None = None,
    on_fallback: FallbackListener | None = None,
) -> SpeechRouter:
    """The synthesizer the settings describe (``REFLECTOR_TTS_*``).

    Piper is loaded once per process on first use (or pass a loaded ``piper``); a remote
    backend gets the breaker ``tts-<backend>`` from ``breakers``. Misconfiguration raises
    ``ValueError`` now rather than at the first request.
    """
    max_chars = config.max_tts_chars
    english = PiperSynthesizer(piper, max_chars=max_chars)
    other = EspeakSynthesizer(max_chars=max_chars)
    list_espeak_voices()  # fail at start-up, not per request, when espeak-ng is missing
    remote: SpeechSynthesizer | None = None
    backend = config.tts_backend
    default_voice = config.tts_default_voice
    if backend == "openai":
        if not config.tts_url:
            raise ValueError(
                "REFLECTOR_TTS_BACKEND=openai needs REFLECTOR_TTS_URL, e.g. http://gpu-box:8000/v1"
            )
        primary = OpenAiSpeechSynthesizer(
            config.tts_url,
            breaker=breakers.get("tts-openai"),
            api_key=config.tts_api_key,
            model=config.tts_model or "tts-1",
            default_voice=(default_voice or "alloy").removeprefix("openai:"),
            policy=policy,
            client=client,
            max_chars=max_chars,
        )
        local = SpeechRouter(english=english, other=other, max_chars=max_chars)
        remote = FallbackSynthesizer(primary, local, max_chars=max_chars, on_fallback=on_fallback)
        default_voice = None  # the remote side has it
    elif backend == "elevenlabs":
        if not config.tts_api_key:
            raise ValueError("REFLECTOR_TTS_BACKEND=elevenlabs needs REFLECTOR_TTS_API_KEY")
        primary = ElevenLabsSynthesizer(
            breaker=breakers.get("tts-elevenlabs"),
            api_key=config.tts_api_key,
            base_url=config.tts_url or ELEVENLABS_URL,
            model_id=config.tts_model or ELEVENLABS_DEFAULT_MODEL,
            default_voice=(default_voice or ELEVENLABS_DEFAULT_VOICE).removeprefix("elevenlabs:"),
            policy=policy,
            client=client,
            max_chars=max_chars,
        )
        local = SpeechRouter(english=english, other=other, max_chars=max_chars)
        remote = FallbackSynthesizer(primary, local, max_chars=max_chars, on_fallback=on_fallback)
        default_voice = None
    elif backend != "local":
        raise ValueError(
            f"REFLECTOR_TTS_BACKEND must be 'local', 'openai' or 'elevenlabs', got {backend!r}"
        )
    router = SpeechRouter(
        english=english, other=other, remote=remote, default_voice=default_voice,
        max_chars=max_chars,
    )  # fmt: skip
    if default_voice:
        router.resolve(default_voice, None)  # an unknown default voice fails at start-up
    return router
