"""Packing speech regions into Whisper's 30-second windows.

Whisper pads every input to 30 s, so a window costs the same whether it holds 3 s or 29 s of
speech. Packing several VAD regions (silence between them removed) into one window is what
makes long recordings fast; each window remembers where its pieces came from so times map back.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from reflector.vad import FRAME_SAMPLES, SpeechRegion

SAMPLE_RATE = 16_000
MAX_WINDOW_SECONDS = 29.5  # a little under 30 s so padding never truncates a word


@dataclass(frozen=True)
class Window:
    """Speech pieces, in recording time, that are transcribed together as one audio input."""

    pieces: tuple[SpeechRegion, ...]

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.pieces)

    @property
    def start(self) -> float:
        return self.pieces[0].start

    @property
    def end(self) -> float:
        return self.pieces[-1].end

    def audio(self, samples: np.ndarray) -> np.ndarray:
        return np.concatenate([samples[_index(p.start) : _index(p.end)] for p in self.pieces])

    def to_recording_time(self, t: float, is_end: bool = False) -> float:
        """Map a time inside the concatenated window back to the recording's time line."""
        offsets = self._piece_offsets()
        t = min(max(t, 0.0), self.duration)
        # An end time that lands exactly on a joint belongs to the earlier piece.
        i = (bisect.bisect_left if is_end else bisect.bisect_right)(offsets, t) - 1
        i = min(max(i, 0), len(self.pieces) - 1)
        piece = self.pieces[i]
        return min(piece.start + (t - offsets[i]), piece.end)

    def to_window_time(self, t: float) -> float:
        """Map a recording time to the concatenated window's time line (the inverse of
        :meth:`to_recording_time`); a time between two pieces maps to the later one's start."""
        offset = 0.0
        for piece in self.pieces:
            if t < piece.end:
                return offset + max(t - piece.start, 0.0)
            offset += piece.duration
        return offset

    def span(self, start: float, end: float) -> Window | None:
        """The part of this window between two times on its own time line, as a window."""
        pieces, offset = [], 0.0
        for piece in self.pieces:
            a = max(start, offset)
            b = min(end, offset + piece.duration)
            if b > a:
                lo = round(piece.start + (a - offset), 3)
                pieces.append(SpeechRegion(lo, round(max(piece.start + (b - offset), lo), 3)))
            offset += piece.duration
        pieces = [p for p in pieces if p.duration > 0]
        return Window(tuple(pieces)) if pieces else None

    def _piece_offsets(self) -> list[float]:
        offsets, total = [], 0.0
        for piece in self.pieces:
            offsets.append(total)
            total += piece.duration
        return offsets


def _index(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _split_long_region(
    region: SpeechRegion, probs: np.ndarray | None, max_seconds: float
) -> list[SpeechRegion]:
    """Cut a region longer than a window at its least speech-like frames (likely breaths)."""
    parts: list[SpeechRegion] = []
    start = region.start
    frame = FRAME_SAMPLES / SAMPLE_RATE
    while region.end - start > max_seconds:
        # Search the second half of the allowed span for the quietest frame.
        lo, hi = start + max_seconds / 2, start + max_seconds
        cut = hi
        if probs is not None and len(probs):
            a = min(int(lo / frame), len(probs) - 1)
            b = min(int(hi / frame), len(probs))
            if b > a:
                cut = (a + int(np.argmin(probs[a:b]))) * frame
        cut = min(max(cut, start + frame), hi)
        parts.append(SpeechRegion(round(start, 3), round(cut, 3)))
        start = cut
    parts.append(SpeechRegion(round(start, 3), region.end))
    return parts


def pack_windows(
    regions: list[SpeechRegion],
    probs: np.ndarray | None = None,
    max_seconds: float = MAX_WINDOW_SECONDS,
) -> list[Window]:
    """Greedily fill windows of at most ``max_seconds`` of speech, in time order."""
    windows: list[Window] = []
    current: list[SpeechRegion] = []
    filled = 0.0
    for region in regions:
        for piece in _split_long_region(region, probs, max_seconds):
            if current and filled + piece.duration > max_seconds:
                windows.append(Window(tuple(current)))
                current, filled = [], 0.0
            current.append(piece)
            filled += piece.duration
    if current:
        windows.append(Window(tuple(current)))
    return windows
