"""Scores of recognised speech against known truth: word and diarization error rates."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from typing import Protocol

import jiwer

from reflector_testkit.meetings import Meeting

# Whisper writes titles abbreviated; references spell them out.
SPOKEN_FORMS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def _normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(SPOKEN_FORMS.get(word, word) for word in text.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lower-casing and removing punctuation, as is usual for ASR scoring."""
    return jiwer.wer(_normalise(reference), _normalise(hypothesis))


def deleted_words(reference: str, hypothesis: str) -> int:
    """Words of ``reference`` that ``hypothesis`` leaves out (the WER's deletions): what a
    lost turn adds to, where a misheard word is a substitution."""
    return jiwer.process_words(_normalise(reference), _normalise(hypothesis)).deletions


def paired_difference(differences: Sequence[float]) -> dict:
    """Summary of one system's score minus another's on the same runs: how many runs, the mean
    difference, the half-width of its 95 % interval (normal approximation; ``None`` for a single
    run) and the runs where the difference was positive, negative or zero."""
    interval = (
        1.96 * statistics.stdev(differences) / len(differences) ** 0.5
        if len(differences) > 1
        else None
    )
    return {
        "runs": len(differences),
        "mean": round(statistics.mean(differences), 2),
        "interval_95": None if interval is None else round(interval, 2),
        "above": sum(d > 0 for d in differences),
        "below": sum(d < 0 for d in differences),
        "equal": sum(d == 0 for d in differences),
    }


class SpeakerTurn(Protocol):
    """A hypothesised turn: any object with a start, an end and a speaker."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def speaker(self) -> int: ...


def diarization_error_rate(meeting: Meeting, turns: Iterable[SpeakerTurn], collar: float) -> float:
    """DER of ``turns`` against the meeting's reference, overlapped speech included.

    ``collar`` forgives that many seconds either side of each reference boundary (the NIST
    convention); pyannote's collar is the total width, hence twice this value.
    """
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for start, end, speaker in meeting.reference_segments():
        reference[Segment(start, end)] = f"ref{speaker}"
    for turn in turns:
        hypothesis[Segment(turn.start, turn.end)] = f"hyp{turn.speaker}"
    metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    return float(metric(reference, hypothesis, uem=Segment(0, meeting.duration)))
