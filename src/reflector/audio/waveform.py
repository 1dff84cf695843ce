"""Peak waveforms: a fixed number of bins, for drawing a recording's outline."""

from __future__ import annotations

import itertools

import numpy as np

WAVEFORM_BINS = 255


def peak_waveform(samples: np.ndarray, bins: int = WAVEFORM_BINS) -> list[float]:
    """Peak absolute amplitude per bin, scaled so the loudest bin is 1.0 (all zeros if silent)."""
    if bins <= 0:
        raise ValueError("bins must be positive")
    if len(samples) == 0:
        return [0.0] * bins
    edges = np.linspace(0, len(samples), bins + 1).astype(np.int64)
    peaks = np.array(
        [np.abs(samples[a:b]).max() if b > a else 0.0 for a, b in itertools.pairwise(edges)],
        dtype=np.float64,
    )
    top = peaks.max()
    if top > 0:
        peaks /= top
    return [round(float(p), 4) for p in peaks]


class PeakTracker:
    """:func:`peak_waveform` of audio that arrives in pieces, whose length is known only at
    the end: keeps one peak per 10 ms (360,000 numbers for an hour) and bins them at the end."""

    STEP = 160
    """Samples per kept peak (10 ms at 16 kHz)."""

    def __init__(self) -> None:
        self._steps: list[np.ndarray] = []
        self._tail = np.zeros(0, dtype=np.float32)

    def add(self, samples: np.ndarray) -> None:
        audio = np.abs(np.concatenate([self._tail, np.asarray(samples, dtype=np.float32)]))
        whole = len(audio) // self.STEP * self.STEP
        if whole:
            self._steps.append(audio[:whole].reshape(-1, self.STEP).max(axis=1))
        self._tail = audio[whole:]

    def waveform(self, bins: int = WAVEFORM_BINS) -> list[float]:
        steps = list(self._steps)
        if len(self._tail):
            steps.append(np.array([self._tail.max()], dtype=np.float32))
        if not steps:
            return peak_waveform(np.zeros(0, dtype=np.float32), bins)
        return peak_waveform(np.concatenate(steps), bins)
