"""Request and response bodies of the ``/v1`` API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reflector.domain import Word

Status = Literal["idle", "uploaded", "recording", "processing", "ended", "error"]
Source = Literal["file", "live", "room"]
ShareMode = Literal["private", "semi-private", "public"]
Item = TypeVar("Item")
MAX_SPEAKER = 9_999
"""Speaker numbers are small integers; the bound keeps them inside every database's INTEGER."""
SpeakerNumber = Annotated[int, Field(ge=0, le=MAX_SPEAKER)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database.
        if _has_nul(value):
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


class TranscriptCreate(_Body):
    name: str = Field(default="", max_length=500)
    source: Source = "file"
    source_language: str | None = Field(default=None, max_length=16)
    """Spoken language code, or ``None`` to detect it."""
    target_language: str | None = Field(default=None, max_length=16)
    """Language of the summaries; default the spoken one."""
    room_id: str | None = Field(default=None, max_length=64)


class TranscriptPatch(_Body):
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
    status: Status
    source: Source
    room_id: str | None
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
    error: str | None
    notes: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    page: int
    size: int
    pages: int


class SegmentOut(BaseModel):
    index: int
    speaker: int | None
    speaker_name: str | None
    start: float
    end: float
    text: str
    confidence: float
    words: list[Word]


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


class ParticipantIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    speaker: SpeakerNumber | None = None


class ParticipantPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    speaker: SpeakerNumber | None = None


class ParticipantOut(BaseModel):
    id: str
    speaker: int | None
    name: str
    confidence: float
    source: str
    evidence: list[str]


class SpeakerAssign(_Body):
    """Give the words between ``start`` and ``end`` to one speaker (or a participant's)."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker: SpeakerNumber | None = None
    participant_id: str | None = None


class SpeakerMerge(_Body):
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


class ActionItemPatch(_Body):
    text: str | None = Field(default=None, min_length=1, max_length=5000)
    person: str | None = Field(default=None, max_length=200)
    deadline: str | None = Field(default=None, max_length=200)
    done: bool | None = None


class UploadCreate(_Body):
    filename: str = Field(default="", max_length=500)
    size: int | None = Field(default=None, ge=0)
    """Total bytes, if known; a larger upload is refused before it starts."""


class UploadOut(BaseModel):
    id: str
    transcript_id: str
    filename: str
    size: int | None
    received: int
    """Bytes stored so far: the offset of the next chunk."""
    status: Literal["open", "complete", "rejected"]


class JobOut(BaseModel):
    id: str
    status: str
    stages_done: list[str]
    current_stage: str | None
    error: str | None


class SearchHitOut(BaseModel):
    id: str
    title: str | None
    rank: float
    snippet: str


class ApiKeyCreate(_Body):
    name: str = Field(default="", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    """The key itself: shown this once, never again."""


class AudioLink(BaseModel):
    url: str
    expires_at: datetime


class WaveformOut(BaseModel):
    peaks: list[float]
    duration: float


class EventOut(BaseModel):
    id: int | None
    type: str
    data: dict[str, Any]
