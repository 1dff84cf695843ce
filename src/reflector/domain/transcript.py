"""Words, segments and transcripts. Times are seconds from the start of the recording."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reflector.domain.summary import MeetingSummary


def speaker_label(speaker: int | None, names: dict[int, str] | None = None) -> str | None:
    """How a speaker number is shown to people: a known name, else ``Speaker N`` (1-based)."""
    if speaker is None:
        return None
    if names and speaker in names:
        return names[speaker]
    return f"Speaker {speaker + 1}"


class _Timed(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: float = Field(ge=0)
    end: float = Field(ge=0)

    @model_validator(mode="after")
    def _end_not_before_start(self) -> _Timed:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def duration(self) -> float:
        return self.end - self.start


class Word(_Timed):
    """One recognised word; ``text`` keeps Whisper's leading space and punctuation."""

    text: str
    probability: float = Field(default=1.0, ge=0, le=1)
    speaker: int | None = Field(default=None, ge=0)
    """0-based speaker number; stable within one transcript."""


class Segment(_Timed):
    """A run of words by one speaker, usually a sentence or a caption line."""

    text: str
    speaker: int | None = Field(default=None, ge=0)
    words: list[Word] = Field(default_factory=list)
    confidence: float = Field(default=1.0, ge=0, le=1)
    """Mean word probability."""


class Turn(_Timed):
    """A stretch of time in which one speaker talks, as the diarizer heard it.

    Unlike a segment, a turn also covers the speech between and around the recognised words
    (breaths, hesitations, words the recogniser missed), so it is what a speaker-timing score
    (DER) or an RTTM file should be built from.
    """

    speaker: int = Field(ge=0)
    """The same 0-based number as the words' ``speaker``."""


class SpeakerProfile(BaseModel):
    """What is known about one speaker: how long they talked and their voice print."""

    model_config = ConfigDict(frozen=True)

    speaker: int = Field(ge=0)
    speaking_time: float = Field(default=0.0, ge=0)
    """Seconds."""
    embedding: list[float] | None = None
    """L2-normalised voice print (CAM++, 192 values), for matching known voices later."""


class Transcript(BaseModel):
    """The result of transcribing one recording."""

    model_config = ConfigDict(frozen=True)

    language: str | None = None
    language_probability: float | None = Field(default=None, ge=0, le=1)
    duration: float = Field(default=0.0, ge=0)
    """Length of the recording in seconds."""
    speech_duration: float = Field(default=0.0, ge=0)
    """Seconds the voice detector marked as speech."""
    segments: list[Segment] = Field(default_factory=list)
    model: str | None = None
    speaker_names: dict[int, str] = Field(default_factory=dict)
    speaker_profiles: list[SpeakerProfile] = Field(default_factory=list)
    speaker_turns: list[Turn] = Field(default_factory=list)
    """Who spoke when (the diarizer's regions, in time order); empty without speakers."""
    notes: list[str] = Field(default_factory=list)
    """Human-readable remarks, e.g. that no speech was found."""
    summary: MeetingSummary | None = None
    """Title, topics, summaries, action items and participants; ``None`` until summarised."""

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def speakers(self) -> list[int]:
        """Speaker numbers in order of first appearance."""
        seen: dict[int, None] = {}
        for segment in self.segments:
            if segment.speaker is not None:
                seen.setdefault(segment.speaker, None)
        return list(seen)

    def label(self, speaker: int | None) -> str | None:
        return speaker_label(speaker, self.speaker_names)
