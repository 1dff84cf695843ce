"""Seconds to the clock strings that captions and readers expect."""

from __future__ import annotations

import math


def to_ms(seconds: float) -> int:
    """Whole milliseconds, clamped to 0 so bad input never yields a negative or broken time."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return round(seconds * 1000)


def clock(ms: int, fraction_sep: str | None = None) -> str:
    """``HH:MM:SS`` (hours always shown), plus ``<sep>mmm`` when a separator is given.

    Without a fraction the seconds are truncated, so a timestamp never points after the speech.
    """
    ms = max(ms, 0)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{hours:02}:{minutes:02}:{seconds:02}"
    return text if fraction_sep is None else f"{text}{fraction_sep}{millis:03}"


def duration_hms(seconds: float) -> str:
    """A length as ``H:MM:SS``, rounded to the nearest second, for people rather than players."""
    total = round(to_ms(seconds) / 1000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}"
