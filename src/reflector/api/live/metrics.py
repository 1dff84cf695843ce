"""Prometheus histograms of live sessions: how soon words show, how far behind decoding runs,
how soon translated captions and speech follow a final sentence."""

from __future__ import annotations

from prometheus_client import Histogram


def _seconds(name: str, documentation: str, *buckets: float) -> Histogram:
    return Histogram(name, documentation, buckets=buckets)


FIRST_WORD_SECONDS = _seconds(
    "reflector_live_first_word_seconds",
    "Seconds from the arrival of speech audio to its first shown word",
    *(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
)
FINAL_WORD_DELAY_SECONDS = _seconds(
    "reflector_live_final_word_delay_seconds",
    "Seconds from the arrival of a word's audio to the word becoming final",
    *(0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0),
)
REAL_TIME_FACTOR = _seconds(
    "reflector_live_real_time_factor",
    "Decoding seconds per second of audio, per live session",
    *(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5),
)
CAPTION_DELAY_SECONDS = _seconds(
    "reflector_live_translation_caption_seconds",
    "Seconds from a sentence becoming final to its translated caption being published",
    *(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
)
SPEECH_DELAY_SECONDS = _seconds(
    "reflector_live_translation_speech_seconds",
    "Seconds from a sentence becoming final to the first byte of its translated speech",
    *(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 5.0),
)
