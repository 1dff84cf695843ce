"""Sentiment of a text: VADER's rule-based lexicon (package ``vaderSentiment``), English only.

VADER is built for short, spoken-style English (it knows intensifiers, negation, "but" and
capitalised emphasis), runs in microseconds and ships its lexicon in the wheel. For other
languages it would score almost every word as unknown, so no sentiment is given for them rather
than a misleading "neutral".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

POSITIVE_FROM = 0.05
"""Compound scores at or above this are positive, at or below its negative are negative: the
thresholds VADER's authors recommend."""

_analyzer = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Sentiment:
    label: Literal["positive", "negative", "neutral"]
    score: float
    """Compound score in [-1, 1]."""
    positive: float
    negative: float
    neutral: float
    """Shares of the text that read positive, negative and neutral (they sum to 1)."""


def _shared_analyzer():
    global _analyzer
    with _lock:
        if _analyzer is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _analyzer = SentimentIntensityAnalyzer()  # reads a 7,500-word lexicon once
        return _analyzer


@lru_cache(maxsize=4096)  # the same texts come again (cached speech): answer in nanoseconds
def analyze_sentiment(text: str, language: str | None = "en") -> Sentiment | None:
    """The sentiment of ``text``, or ``None`` for an empty text or a language other than English."""
    if not text.strip() or (language is not None and not language.lower().startswith("en")):
        return None
    scores = _shared_analyzer().polarity_scores(text)
    compound = round(float(scores["compound"]), 4)
    if compound >= POSITIVE_FROM:
        label = "positive"
    elif compound <= -POSITIVE_FROM:
        label = "negative"
    else:
        label = "neutral"
    return Sentiment(
        label=label,
        score=compound,
        positive=round(float(scores["pos"]), 4),
        negative=round(float(scores["neg"]), 4),
        neutral=round(float(scores["neu"]), 4),
    )
