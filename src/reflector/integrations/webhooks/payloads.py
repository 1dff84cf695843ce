"""What a webhook delivery's body holds: a versioned envelope around one event's data.

Receivers can parse any body with ``WEBHOOK_PAYLOAD.validate_json(body)``: the envelopes form a
union discriminated on ``type``. ``version`` changes only when a field is removed or changes
meaning; fields may be added within a version, so receivers should ignore unknown ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter

PAYLOAD_VERSION = 1


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes (stored in UTC): receivers always get an offset.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class WebhookEventType(StrEnum):
    TRANSCRIPT_COMPLETED = "transcript.completed"
    """A transcript was processed for the first time."""
    TRANSCRIPT_FAILED = "transcript.failed"
    TRANSCRIPT_REPROCESSED = "transcript.reprocessed"
    """A transcript that had completed before was processed again."""
    MEETING_STARTED = "meeting.started"
    MEETING_ENDED = "meeting.ended"


TEST_EVENT = "webhook.test"
"""Sent by "send test" only; endpoints cannot subscribe to it."""

TRANSCRIPT_EVENTS = frozenset(
    {
        WebhookEventType.TRANSCRIPT_COMPLETED,
        WebhookEventType.TRANSCRIPT_FAILED,
        WebhookEventType.TRANSCRIPT_REPROCESSED,
    }
)


class TranscriptLinks(BaseModel):
    """Where people and programs find the transcript (the API ones need the owner's key,
    unless the transcript is shared)."""

    web: str
    api: str
    audio: str | None
    """``None`` when the audio was deleted (a participant declined consent) or never made."""
    exports: dict[str, str]
    """Export format (``text``, ``vtt``, ``srt``, ``json``, ``md``, ``zip``) → URL."""


class ParticipantInfo(BaseModel):
    speaker: int | None
    name: str


class TopicInfo(BaseModel):
    title: str
    summary: str
    start: float
    duration: float


class DecisionInfo(BaseModel):
    text: str
    decided_by: str | None


class NextStepInfo(BaseModel):
    task: str
    owner: str | None
    deadline: str | None


class ActionItemsInfo(BaseModel):
    decisions: list[DecisionInfo] = Field(default_factory=list)
    next_steps: list[NextStepInfo] = Field(default_factory=list)


class TranscriptData(BaseModel):
    id: str
    name: str
    title: str | None
    status: Literal["ended", "error"]
    error: str | None
    """Why processing failed (``transcript.failed`` only)."""
    source: str
    """``file``, ``live`` or ``room``."""
    room_id: str | None
    meeting_id: str | None
    language: str | None
    duration: float
    """Seconds of audio."""
    created_at: UtcDatetime
    short_summary: str | None
    long_summary: str | None
    """Markdown."""
    participants: list[ParticipantInfo]
    topics: list[TopicInfo]
    action_items: ActionItemsInfo
    links: TranscriptLinks


class MeetingData(BaseModel):
    id: str
    room_id: str
    room_name: str | None
    platform: str
    title: str | None
    """The calendar event's title, for a meeting created from a calendar."""
    started_at: UtcDatetime
    ended_at: UtcDatetime | None
    num_clients: int
    links: dict[str, str]
    """``room``: the room's page in the web app."""


class TestData(BaseModel):
    webhook_id: str
    message: str


class _Envelope(BaseModel):
    version: Literal[1] = PAYLOAD_VERSION
    id: str
    """The event's id: the same on every retry and for every endpoint, so receivers can
    ignore an event they already handled."""
    created_at: UtcDatetime


class TranscriptWebhook(_Envelope):
    type: Literal["transcript.completed", "transcript.failed", "transcript.reprocessed"]
    data: TranscriptData


class MeetingWebhook(_Envelope):
    type: Literal["meeting.started", "meeting.ended"]
    data: MeetingData


class TestWebhook(_Envelope):
    type: Literal["webhook.test"] = TEST_EVENT
    data: TestData


WebhookPayload = Annotated[
    TranscriptWebhook | MeetingWebhook | TestWebhook, Field(discriminator="type")
]
WEBHOOK_PAYLOAD: TypeAdapter[TranscriptWebhook | MeetingWebhook | TestWebhook] = TypeAdapter(
    WebhookPayload
)
