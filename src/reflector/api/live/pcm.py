"""Live audio bytes as samples: mono PCM in the format the client announced."""

from __future__ import annotations

import numpy as np

from reflector.audio import AudioFormatError


def decode_pcm(data: bytes, fmt: str) -> np.ndarray:
    """Mono PCM bytes → float32 samples; refuses sizes and values the format cannot have."""
    if fmt == "s16le":
        if len(data) % 2:
            raise AudioFormatError("s16le audio needs an even number of bytes (2 per sample)")
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if len(data) % 4:
        raise AudioFormatError("f32le audio needs a multiple of 4 bytes (4 per sample)")
    samples = np.frombuffer(data, dtype="<f4")
    if not np.isfinite(samples).all() or np.abs(samples).max(initial=0.0) > 16.0:
        raise AudioFormatError(
            "f32le samples must be finite and near [-1, 1]; is the stream really float32?"
        )
    return samples.astype(np.float32)
