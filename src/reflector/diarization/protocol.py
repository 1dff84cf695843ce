"""The small surface every diarization backend offers, and the input handling they share."""

from __future__ import annotations

import numpy as np

from reflector.diarization.types import DiarizationOptions, DiarizationResult
from reflector.vad import SpeechRegion


class Diarizer:
    """Finds who spoke when in 16 kHz mono float32 audio; every backend derives from this.

    ``speech`` are the voice-detector regions of the same audio (seconds); backends that run
    their own detection may ignore them. Empty audio or no speech gives an empty result.
    :meth:`diarize` brings the samples to one flat float32 array and fills in default options,
    then calls the backend's :meth:`_diarize`.
    """

    def diarize(
        self,
        samples: np.ndarray,
        speech: list[SpeechRegion],
        options: DiarizationOptions | None = None,
    ) -> DiarizationResult:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        return self._diarize(samples, speech, options or DiarizationOptions())

    def _diarize(
        self, samples: np.ndarray, speech: list[SpeechRegion], options: DiarizationOptions
    ) -> DiarizationResult:
        raise NotImplementedError
