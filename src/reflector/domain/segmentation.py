"""Grouping timed words into readable segments (sentences and caption-sized runs)."""

from __future__ import annotations

from collections.abc import Iterable

from reflector.domain.transcript import Segment, Word

SENTENCE_END = (".", "?", "!", "\u3002", "\uff1f", "\uff01", "\u2026")  # incl. CJK full-width
MAX_PAUSE = 1.0
"""A silence this long (seconds) ends a segment even mid-sentence."""
MAX_SEGMENT_SECONDS = 30.0


def make_monotonic(words: Iterable[Word], duration: float | None = None) -> list[Word]:
    """Sort words and clip their times so they never overlap or run backwards."""
    ordered = sorted(words, key=lambda w: (w.start, w.end))
    fixed: list[Word] = []
    previous_end = 0.0
    for word in ordered:
        start = max(word.start, previous_end)
        end = max(word.end, start)
        if duration is not None:
            start, end = min(start, duration), min(end, duration)
        if (start, end) != (word.start, word.end):
            word = word.model_copy(update={"start": start, "end": end})
        fixed.append(word)
        previous_end = end
    return fixed


def is_sentence_end(word: Word) -> bool:
    return word.text.strip().endswith(SENTENCE_END)


def segment_from_words(words: list[Word]) -> Segment:
    text = "".join(w.text for w in words).strip()
    confidence = sum(w.probability for w in words) / len(words)
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=text,
        speaker=words[0].speaker,
        words=words,
        confidence=round(confidence, 4),
    )


def build_segments(
    words: list[Word], max_pause: float = MAX_PAUSE, max_seconds: float = MAX_SEGMENT_SECONDS
) -> list[Segment]:
    """Split words into segments at sentence ends, long pauses, speaker changes and length."""
    segments: list[Segment] = []
    current: list[Word] = []
    for word in words:
        if current:
            previous = current[-1]
            if (
                is_sentence_end(previous)
                or word.start - previous.end > max_pause
                or word.speaker != previous.speaker
                or word.end - current[0].start > max_seconds
            ):
                segments.append(segment_from_words(current))
                current = []
        current.append(word)
    if current:
        segments.append(segment_from_words(current))
    return segments
