"""Voice detection that skips digital silence.

A participant's track on the meeting timeline is mostly exact zeros: the time before they
joined and every stretch they were muted is inserted silence. Running Silero over it would cost
as much as over speech; the model runs only on the stretches that hold any signal, and every
silent frame has probability 0.
"""

from __future__ import annotations

import numpy as np

from reflector.vad.silero import FRAME_SAMPLES, SileroVad

_SCAN_FRAMES = 4096
"""Frames checked for signal at once (~2 minutes): bounds the scan's working memory."""
MIN_SILENT_FRAMES = 16
"""Silent frames (0.5 s) in a row before the model stops: shorter runs are sent to it with
the signal around them, so its state stays as it would be on the whole track."""


def audible_spans(audio: np.ndarray, min_gap: int = MIN_SILENT_FRAMES) -> list[tuple[int, int]]:
    """``(first, last)`` frame ranges (32 ms frames, end exclusive) holding any non-zero sample,
    joined across silent runs shorter than ``min_gap`` frames."""
    n_frames = -(-len(audio) // FRAME_SAMPLES)
    audible = np.zeros(n_frames, dtype=bool)
    for first in range(0, n_frames, _SCAN_FRAMES):
        last = min(first + _SCAN_FRAMES, n_frames)
        block = np.asarray(audio[first * FRAME_SAMPLES : last * FRAME_SAMPLES])
        whole = len(block) // FRAME_SAMPLES
        if whole:
            audible[first : first + whole] = (
                block[: whole * FRAME_SAMPLES].reshape(whole, FRAME_SAMPLES).any(axis=1)
            )
        if whole < last - first:  # the last, partial frame
            audible[first + whole] = bool(block[whole * FRAME_SAMPLES :].any())
    spans: list[tuple[int, int]] = []
    edges = np.diff(np.concatenate([[0], audible.astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if spans and start - spans[-1][1] < min_gap:
            spans[-1] = (spans[-1][0], int(end))
        else:
            spans.append((int(start), int(end)))
    return spans


class SilenceSkippingVad:
    """:class:`SileroVad`'s ``probabilities`` that runs the model only where there is signal."""

    def __init__(self, vad: SileroVad) -> None:
        self._vad = vad

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        n_frames = -(-len(audio) // FRAME_SAMPLES)
        out = np.zeros(n_frames, dtype=np.float32)
        for first, last in audible_spans(audio):
            piece = audio[first * FRAME_SAMPLES : last * FRAME_SAMPLES]
            out[first:last] = self._vad.probabilities(piece)[: last - first]
        return out


class KnownProbabilities:
    """Stands for a voice detector whose answer for one recording is already known."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self._probabilities = probabilities

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        expected = -(-len(audio) // FRAME_SAMPLES)
        if len(self._probabilities) != expected:
            raise ValueError("these probabilities belong to a recording of another length")
        return self._probabilities
