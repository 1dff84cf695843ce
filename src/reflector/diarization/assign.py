"""Giving each recognised word a speaker from diarization turns.

Word times (from ASR) and turn boundaries (from diarization) are both a little off, so a naive
word-by-word overlap often flips the speaker for the first or last word of a sentence. People
rarely hand over in the middle of a sentence, so after the word-level pass a speaker change
inside a sentence is moved to the sentence boundary (the sentence goes to the speaker who
says most of it) unless the evidence for the change is strong: a long stretch of words that
lie well inside another speaker's turns. Words in overlapped speech follow their sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reflector.diarization.types import DiarizationResult, SpeakerTurn
from reflector.domain import Word
from reflector.domain.segmentation import MAX_PAUSE, is_sentence_end


@dataclass(frozen=True)
class AssignmentOptions:
    strong_share: float = 0.8
    """A run keeps its own speaker mid-sentence only if its words lie this much in its turns…"""
    strong_seconds: float = 1.2
    """…and it lasts at least this long…"""
    strong_words: int = 3
    """…or holds at least this many words (quick replies that ASR joined to a sentence)."""
    sentence_pause: float = MAX_PAUSE
    """A silence this long between words ends a sentence even without punctuation."""

    def __post_init__(self) -> None:
        if not 0 <= self.strong_share <= 1:
            raise ValueError("strong_share must be in [0, 1]")
        if self.strong_seconds < 0 or self.strong_words < 1 or self.sentence_pause <= 0:
            raise ValueError("need strong_seconds >= 0, strong_words >= 1, sentence_pause > 0")


@dataclass(frozen=True)
class _Vote:
    speaker: int | None
    share: float
    """Part of the word (0..1) inside turns of ``speaker`` and of nobody else."""


def _word_votes(words: Sequence[Word], turns: Sequence[SpeakerTurn]) -> list[_Vote]:
    starts = np.array([t.start for t in turns])
    ends = np.array([t.end for t in turns])
    speakers = np.array([t.speaker for t in turns])
    votes: list[_Vote] = []
    for word in words:
        length = word.end - word.start
        overlap = np.minimum(ends, word.end) - np.maximum(starts, word.start)
        if length > 0 and (overlap > 0).any():
            per_speaker: dict[int, float] = {}
            for speaker, amount in zip(speakers[overlap > 0], overlap[overlap > 0], strict=True):
                per_speaker[int(speaker)] = per_speaker.get(int(speaker), 0.0) + float(amount)
            best = max(per_speaker, key=lambda s: per_speaker[s])
            others = sum(v for s, v in per_speaker.items() if s != best)
            votes.append(_Vote(best, max(0.0, min(1.0, (per_speaker[best] - others) / length))))
            continue
        # No overlap (a word the voice detector missed, or zero length): the nearest turn.
        middle = (word.start + word.end) / 2
        distance = np.maximum(starts - middle, middle - ends).clip(min=0)
        votes.append(_Vote(int(speakers[int(distance.argmin())]), 0.0))
    return votes


def _sentences(words: Sequence[Word], pause: float) -> list[range]:
    spans: list[range] = []
    begin = 0
    for i in range(1, len(words) + 1):
        if (
            i == len(words)
            or is_sentence_end(words[i - 1])
            or words[i].start - words[i - 1].end > pause
        ):
            spans.append(range(begin, i))
            begin = i
    return spans


def _raw_speakers(
    words: Sequence[Word], turns: Sequence[SpeakerTurn], options: AssignmentOptions
) -> list[int | None]:
    if not turns:
        return [None] * len(words)
    votes = _word_votes(words, turns)
    speakers: list[int | None] = [v.speaker for v in votes]
    for sentence in _sentences(words, options.sentence_pause):
        # Runs of consecutive words with the same vote.
        runs: list[list[int]] = []
        for i in sentence:
            if runs and votes[runs[-1][0]].speaker == votes[i].speaker:
                runs[-1].append(i)
            else:
                runs.append([i])
        if len(runs) < 2:
            continue
        time_by_speaker: dict[int, float] = {}
        for i in sentence:
            speaker = votes[i].speaker
            if speaker is not None:
                weight = max(words[i].end - words[i].start, 0.01)
                time_by_speaker[speaker] = time_by_speaker.get(speaker, 0.0) + weight
        main = max(time_by_speaker, key=lambda s: time_by_speaker[s])
        for run in runs:
            speaker = votes[run[0]].speaker
            if speaker == main:
                continue
            seconds = words[run[-1]].end - words[run[0]].start
            share = float(np.mean([votes[i].share for i in run]))
            long_enough = seconds >= options.strong_seconds or len(run) >= options.strong_words
            if long_enough and share >= options.strong_share:
                continue  # a real hand-over inside what ASR wrote as one sentence
            for i in run:
                speakers[i] = main
    return speakers


def _first_appearance(speakers: Sequence[int | None]) -> dict[int, int]:
    order: dict[int, int] = {}
    for speaker in speakers:
        if speaker is not None:
            order.setdefault(speaker, len(order))
    return order


def assign_speakers(
    words: Sequence[Word], turns: Sequence[SpeakerTurn], options: AssignmentOptions | None = None
) -> list[Word]:
    """Words (in time order) with ``speaker`` set, numbered 0, 1, … by first appearance.

    With no turns the words come back unchanged (speaker ``None``).
    """
    if not turns:
        return list(words)
    speakers = _raw_speakers(words, turns, options or AssignmentOptions())
    order = _first_appearance(speakers)
    return [
        w.model_copy(update={"speaker": order[s] if s is not None else None})
        for w, s in zip(words, speakers, strict=True)
    ]


def label_words(
    words: Sequence[Word], result: DiarizationResult, options: AssignmentOptions | None = None
) -> tuple[list[Word], DiarizationResult]:
    """Assign speakers to words and renumber the result the same way.

    Speakers are numbered by their first word; speakers who said no recognised word keep
    their turns and voice prints, numbered after the others.
    """
    if not result.turns:
        return list(words), result
    speakers = _raw_speakers(words, result.turns, options or AssignmentOptions())
    order = _first_appearance(speakers)
    for speaker in result.speakers:
        order.setdefault(speaker, len(order))
    labelled = [
        w.model_copy(update={"speaker": order[s] if s is not None else None})
        for w, s in zip(words, speakers, strict=True)
    ]
    return labelled, result.relabelled(order)
