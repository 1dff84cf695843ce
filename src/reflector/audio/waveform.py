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
