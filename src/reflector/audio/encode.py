"""MP3 and WAV files of decoded audio, for playback and archiving (see :mod:`.formats`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reflector.audio.decode import SAMPLE_RATE
from reflector.audio.formats import write_audio_file


def encode_mp3(
    samples: np.ndarray,
    path: str | os.PathLike[str],
    sample_rate: int = SAMPLE_RATE,
    bitrate: int = 64_000,
) -> Path:
    """Write mono float32 ``samples`` to ``path`` as MP3 (64 kbit/s is ample for speech)."""
    return write_audio_file(samples, path, sample_rate, "mp3", bitrate=bitrate)


def write_wav(
    samples: np.ndarray, path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write mono float32 ``samples`` as 16-bit PCM WAV."""
    import wave

    path = Path(path)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return path
