"""eSpeak NG formant TTS (Debian package ``espeak-ng``): every language, many voice variants."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from reflector.tts.types import SpeechAudio, TtsError


class EspeakTts:
    """Runs the ``espeak-ng`` program; ``voice`` is e.g. ``en-us``, ``en-gb+f3`` or ``es``."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 160, pitch: int = 50) -> None:
        self._binary = shutil.which("espeak-ng")
        if self._binary is None:
            raise TtsError("espeak-ng is not installed: apt-get install espeak-ng")
        self.voice, self.words_per_minute, self.pitch = voice, words_per_minute, pitch

    def synthesize(self, text: str) -> SpeechAudio:
        command = [
            self._binary,
            "-v", self.voice,
            "-s", str(self.words_per_minute),
            "-p", str(self.pitch),
            "--stdout",
            text,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, check=False, timeout=120)
        if result.returncode != 0:
            raise TtsError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
        with wave.open(io.BytesIO(result.stdout)) as handle:
            rate = handle.getframerate()
            # espeak-ng writes a streaming header whose frame count is unknown: read all bytes.
            pcm = np.frombuffer(handle.readframes(2**31 - 1), dtype="<i2")
        return SpeechAudio(pcm.astype(np.float32) / 32768.0, rate)
