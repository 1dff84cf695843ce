"""Caption cues shared by WebVTT and SRT: short, readable, with monotonic times."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from reflector.domain.transcript import Segment, Transcript
from reflector.export.timecode import to_ms

MAX_CUE_SECONDS = 7.0
"""Longer segments are split: a caption on screen for longer is hard to follow."""
MAX_CUE_CHARS = 84
"""Two lines of :data:`LINE_CHARS`, the usual broadcast caption limit."""
LINE_CHARS = 42


@dataclass(frozen=True)
class Cue:
    """One caption: times in whole milliseconds, text on one line (see :func:`wrap`)."""

    start: int
    end: int
    text: str
    speaker: int | None


class _Piece(NamedTuple):
    """A word with its time; ``text`` keeps its leading space so pieces join back verbatim."""

    start: float
    end: float
    text: str


def squash(text: str) -> str:
    """Collapse whitespace, so stray newlines cannot end a cue or a paragraph early."""
    return " ".join(text.split())


def build_cues(
    transcript: Transcript,
    max_seconds: float = MAX_CUE_SECONDS,
    max_chars: int = MAX_CUE_CHARS,
) -> list[Cue]:
    """Cues for every non-empty segment, long ones split at word boundaries.

    Cues are ordered by start (players expect that, even if segments are not), and no cue
    ends before it starts, even after rounding.
    """
    spans = [
        (start, end, text, segment.speaker)
        for segment in transcript.segments
        for start, end, text in _split_segment(segment, max_seconds, max_chars)
    ]
    spans.sort(key=lambda span: span[0])
    cues: list[Cue] = []
    last_start = 0
    for start, end, text, speaker in spans:
        start_ms = max(to_ms(start), last_start)
        cues.append(Cue(start_ms, max(to_ms(end), start_ms), text, speaker))
        last_start = start_ms
    return cues


def wrap(text: str, width: int = LINE_CHARS) -> str:
    """Break a long caption into two lines at the space nearest the middle, as players expect."""
    if len(text) <= width or " " not in text:
        return text
    middle = len(text) // 2
    spaces = [i for i, char in enumerate(text) if char == " "]
    cut = min(spaces, key=lambda i: abs(i - middle))
    return f"{text[:cut]}\n{text[cut + 1 :]}"


def _split_segment(
    segment: Segment, max_seconds: float, max_chars: int
) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` spans inside the segment, in order and not overlapping."""
    text = squash(segment.text)
    if not text:
        return []
    if segment.duration <= max_seconds and len(text) <= max_chars:
        return [(segment.start, segment.end, text)]
    groups = _group(_word_pieces(segment) or _text_pieces(segment, text), max_seconds, max_chars)
    spans: list[tuple[float, float, str]] = []
    previous_end = segment.start
    for index, group in enumerate(groups):
        # The first and last cue cover the segment's edges so captions appear with the speech.
        start = segment.start if index == 0 else group[0].start
        end = segment.end if index == len(groups) - 1 else group[-1].end
        start = min(max(start, previous_end), segment.end)
        end = min(max(end, start), segment.end)
        spans.append((start, end, squash("".join(piece.text for piece in group))))
        previous_end = end
    return spans


def _word_pieces(segment: Segment) -> list[_Piece]:
    return [_Piece(w.start, w.end, w.text) for w in segment.words if w.text.strip()]


def _text_pieces(segment: Segment, text: str) -> list[_Piece]:
    """Words without timestamps: spread the segment's time over them by character position."""
    scale = segment.duration / len(text)
    return [
        _Piece(segment.start + m.start() * scale, segment.start + m.end() * scale, m.group())
        for m in re.finditer(r"\s*\S+", text)
    ]


def _group(pieces: list[_Piece], max_seconds: float, max_chars: int) -> list[list[_Piece]]:
    """Split pieces into about equal groups, none over the limits unless one word already is.

    Aiming at an equal share avoids a full caption followed by a one-word straggler.
    """
    if not pieces:
        return []
    total_chars = len("".join(p.text for p in pieces).strip())
    total_seconds = pieces[-1].end - pieces[0].start
    count = max(1, math.ceil(total_chars / max_chars), math.ceil(total_seconds / max_seconds))
    share = total_chars / count
    groups: list[list[_Piece]] = [[]]
    for piece in pieces:
        current = groups[-1]
        if current:
            length = len("".join(p.text for p in current).strip())
            too_long = length + len(piece.text) > max_chars
            too_slow = piece.end - current[0].start > max_seconds
            if too_long or too_slow or length >= share:
                groups.append(current := [])
        current.append(piece)
    return groups
