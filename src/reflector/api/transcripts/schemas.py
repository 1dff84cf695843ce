"""Request and response bodies of ``/v1/transcripts`` and ``/v1/search``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from reflector.api.schemas import StrictBody
from reflector.domain import Word
from reflector.domain.events import LabelledSegment, ParticipantEntry
from reflector.domain.status import TranscriptStatus

Source = Literal["file", "live", "room"]
ShareMode = Literal["private", "semi-private", "public"]
MAX_SPEAKER = 9_999
"""Speaker numbers are small integers; the bound keeps them inside every database's INTEGER."""
SpeakerNumber = Annotated[int, Field(ge=0, le=MAX_SPEAKER)]


class TranscriptCreate(StrictBody):
    name: str = Field(default="", max_length=500)
    source: Source = "file"
    source_language: str | None = Field(default=None, max_length=16)
    """Spoken language code, or ``None`` to detect it."""
    target_language: str | None = Field(default=None, max_length=16)
    """Language of the summaries; default the spoken one."""
    room_id: str | None = Field(default=None, max_length=64)


class TranscriptPatch(StrictBody):
    name: str | None = Field(default=None, max_length=500)
    title: str | None = Field(default=None, max_length=500)
    short_summary: str | None = Field(default=None, max_length=20_000)
    long_summary: str | None = Field(default=None, max_length=200_000)
    share_mode: ShareMode | None = None
    locked: bool | None = None
    reviewed: bool | None = None


class TranscriptOut(BaseModel):
    id: str
    name: str
    status: TranscriptStatus
    source: Source
    room_id: str | None
    meeting_id: str | None
    """The room meeting it was recorded in, if any."""
    source_language: str | None
    target_language: str | None
    title: str | None
    short_summary: str | None
    long_summary: str | None
    duration: float
    """Seconds."""
    share_mode: ShareMode
    locked: bool
    reviewed: bool
    has_audio: bool
    shared_with_me: bool = False
    """Another user's transcript that the caller reads because it is shared with them (its
    link, or a shared room); read-only for them."""
    audio_deleted: bool
    """The audio was deleted after transcription because a meeting participant declined to
    have it kept; the text stays."""
    error: str | None
    notes: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


# The segments and participants the API returns are the models an edit's event carries. The
# subclasses keep the schema names clients know; ``extra="ignore"`` keeps the schema as it was
# (the events' refusal of unknown fields would add ``additionalProperties: false``).


class SegmentOut(LabelledSegment):
    model_config = ConfigDict(extra="ignore")


class TopicOut(BaseModel):
    id: str
    title: str
    summary: str
    start: float
    duration: float
    segments: list[int]
    """Indices of the segments the topic covers."""
    words: list[Word]
    words_per_speaker: dict[str, list[Word]]
    """Speaker number (as a string key) → that speaker's words in this topic."""


class ParticipantIn(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    speaker: SpeakerNumber | None = None


class ParticipantPatch(StrictBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    speaker: SpeakerNumber | None = None


class ParticipantOut(ParticipantEntry):
    model_config = ConfigDict(extra="ignore")


class SpeakerAssign(StrictBody):
    """Give the words between ``start`` and ``end`` to one speaker (or a participant's)."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker: SpeakerNumber | None = None
    participant_id: str | None = None


class SpeakerMerge(StrictBody):
    """Everything said by ``speakers`` becomes ``into``'s."""

    speakers: list[SpeakerNumber] = Field(min_length=1)
    into: SpeakerNumber


class ActionItemOut(BaseModel):
    id: str
    kind: Literal["decision", "next_step"]
    text: str
    person: str | None
    deadline: str | None
    context: str | None
    time: float | None
    done: bool


class ActionItemPatch(StrictBody):
    text: str | None = Field(default=None, min_length=1, max_length=5000)
    person: str | None = Field(default=None, max_length=200)
    deadline: str | None = Field(default=None, max_length=200)
    done: bool | None = None


class SearchHitOut(BaseModel):
    id: str
    title: str | None
    rank: float
    snippet: str
    shared_with_me: bool = False
    """Another user's transcript, shared with the caller."""


class AudioLink(BaseModel):
    url: str
    expires_at: datetime


class WaveformOut(BaseModel):
    peaks: list[float]
    duration: float
