"""Data shared by the speech synthesis backends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class TtsError(Exception):
    """Synthesis failed; the message is meant for people."""


@dataclass(frozen=True)
class SpeechAudio:
    samples: np.ndarray
    """Mono float32 in [-1, 1]."""
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate
