"""The small surface every diarization backend offers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from reflector.diarization.types import DiarizationOptions, DiarizationResult
from reflector.vad import SpeechRegion


@runtime_checkable
class Diarizer(Protocol):
    """Finds who spoke when in 16 kHz mono float32 audio.

    ``speech`` are the voice-detector regions of the same audio (seconds); backends that run
    their own detection may ignore them. Empty audio or no speech gives an empty result.
    """

    def diarize(
        self,
        samples: np.ndarray,
        speech: list[SpeechRegion],
        options: DiarizationOptions | None = None,
    ) -> DiarizationResult: ...
