"""MP3 encoding of decoded audio, for playback and archiving."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from reflector.audio.decode import SAMPLE_RATE


def encode_mp3(
    samples: np.ndarray,
    path: str | os.PathLike[str],
    sample_rate: int = SAMPLE_RATE,
    bitrate: int = 64_000,
) -> Path:
    """Write mono float32 ``samples`` to ``path`` as MP3 (64 kbit/s is ample for speech)."""
    path = Path(path)
    frame_size = 1152 * 8
    with av.open(str(path), mode="w", format="mp3") as container:
        stream = container.add_stream("mp3", rate=sample_rate, layout="mono")
        stream.bit_rate = bitrate
        pcm = np.ascontiguousarray(samples, dtype=np.float32)
        for offset in range(0, len(pcm), frame_size):
            block = pcm[offset : offset + frame_size].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


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
