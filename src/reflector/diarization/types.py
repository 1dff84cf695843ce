"""Plain data of the diarization engine: options, speaker turns, results."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reflector.errors import UnavailableError


class DiarizationError(UnavailableError, RuntimeError):
    """Diarization could not run (model missing, remote server failing); says why for people."""


@dataclass(frozen=True)
class DiarizationOptions:
    """Hints about how many people spoke; all optional (the count is found automatically).

    ``num_speakers`` fixes the count; ``min_speakers``/``max_speakers`` bound the search.
    """

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_speakers ({low}) is greater than max_speakers ({high})")
        fixed = self.num_speakers
        if fixed is not None and (
            (low is not None and fixed < low) or (high is not None and fixed > high)
        ):
            raise ValueError(
                f"num_speakers ({fixed}) is outside min_speakers..max_speakers ({low}..{high})"
            )

    def bounds(self, default_max: int) -> tuple[int, int]:
        """The allowed speaker counts ``(low, high)`` after applying the hints."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        low = self.min_speakers or 1
        high = self.max_speakers or max(default_max, low)
        return low, high


@dataclass(frozen=True)
class SpeakerTurn:
    """One person speaking from ``start`` to ``end`` (seconds); ``speaker`` is 0-based."""

    start: float
    end: float
    speaker: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"turn ends ({self.end}) before it starts ({self.start})")
        if self.speaker < 0:
            raise ValueError(f"speaker numbers are 0-based, got {self.speaker}")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class DiarizationResult:
    """Who spoke when. Speakers are numbered 0, 1, … in order of first appearance.

    ``embeddings`` holds one L2-normalised voice print (mean CAM++ embedding) per speaker, so
    later work can match speakers to known voices; a remote backend may return none.
    """

    turns: tuple[SpeakerTurn, ...] = ()
    embeddings: dict[int, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def speakers(self) -> list[int]:
        """Speaker numbers in order of first appearance."""
        return list(dict.fromkeys(turn.speaker for turn in sorted_turns(self.turns)))

    @property
    def num_speakers(self) -> int:
        return len(self.speakers)

    def speaking_time(self) -> dict[int, float]:
        """Seconds each speaker talks."""
        totals: dict[int, float] = {}
        for turn in self.turns:
            totals[turn.speaker] = totals.get(turn.speaker, 0.0) + turn.duration
        return totals

    def relabelled(self, mapping: dict[int, int]) -> DiarizationResult:
        """The same result with speaker ``s`` renamed ``mapping[s]`` (unmapped ones dropped)."""
        turns = tuple(
            SpeakerTurn(t.start, t.end, mapping[t.speaker])
            for t in self.turns
            if t.speaker in mapping
        )
        embeddings = {mapping[s]: v for s, v in self.embeddings.items() if s in mapping}
        return DiarizationResult(turns, embeddings)


def sorted_turns(turns: tuple[SpeakerTurn, ...] | list[SpeakerTurn]) -> list[SpeakerTurn]:
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def first_appearance_order(turns: list[SpeakerTurn] | tuple[SpeakerTurn, ...]) -> dict[int, int]:
    """A renumbering that makes the first speaker to talk 0, the next new one 1, …"""
    order: dict[int, int] = {}
    for turn in sorted_turns(turns):
        order.setdefault(turn.speaker, len(order))
    return order
