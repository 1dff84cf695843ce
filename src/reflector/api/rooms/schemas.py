"""Request and response bodies of ``/v1/rooms``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from reflector.api.schemas import StrictBody

ROOM_NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
"""Lower-case letters, digits and single dashes between them: the name is part of the room's
web address and of the platform's meeting names."""
ROOM_NAME_MAX = 60

RoomName = Annotated[str, Field(min_length=1, max_length=ROOM_NAME_MAX, pattern=ROOM_NAME_PATTERN)]
RoomMode = Literal["normal", "group"]
RecordingType = Literal["none", "local", "cloud"]
RecordingTrigger = Literal["none", "prompt", "automatic", "automatic-2nd-participant"]
PlatformName = Literal["daily", "whereby"]
WebUrl = Annotated[str, Field(max_length=2000)]


def _web_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class _RoomFields(StrictBody):
    """What a room's owner sets. Integrations (webhook, Zulip, calendar) are plain fields
    here; their behaviour lives with each integration."""

    @field_validator("webhook_url", "ics_url", check_fields=False)
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _web_url(value)


class RoomCreate(_RoomFields):
    name: RoomName
    is_shared: bool = False
    """Listed to every signed-in user (only the owner and administrators change it)."""
    is_locked: bool = False
    room_mode: RoomMode = "normal"
    recording_type: RecordingType = "cloud"
    recording_trigger: RecordingTrigger = "automatic-2nd-participant"
    platform: PlatformName = "daily"
    skip_consent: bool = False
    """Keep the audio even when a participant declines (no consent question)."""
    webhook_url: WebUrl | None = None
    webhook_secret: str | None = Field(default=None, max_length=200)
    zulip_auto_post: bool = False
    zulip_stream: str | None = Field(default=None, max_length=200)
    zulip_topic: str | None = Field(default=None, max_length=200)
    ics_url: WebUrl | None = None
    ics_enabled: bool = False
    ics_fetch_interval: int = Field(default=300, ge=60, le=86_400)
    """Seconds between two reads of the calendar."""


class RoomPatch(_RoomFields):
    """Only the fields sent change; ``null`` clears an optional one."""

    name: RoomName | None = None
    is_shared: bool | None = None
    is_locked: bool | None = None
    room_mode: RoomMode | None = None
    recording_type: RecordingType | None = None
    recording_trigger: RecordingTrigger | None = None
    platform: PlatformName | None = None
    skip_consent: bool | None = None
    webhook_url: WebUrl | None = None
    webhook_secret: str | None = Field(default=None, max_length=200)
    zulip_auto_post: bool | None = None
    zulip_stream: str | None = Field(default=None, max_length=200)
    zulip_topic: str | None = Field(default=None, max_length=200)
    ics_url: WebUrl | None = None
    ics_enabled: bool | None = None
    ics_fetch_interval: int | None = Field(default=None, ge=60, le=86_400)


class RoomOut(BaseModel):
    id: str
    name: str
    user_id: str
    is_owner: bool
    """Whether the caller may change the room (its owner, or an administrator)."""
    is_shared: bool
    is_locked: bool
    room_mode: RoomMode
    recording_type: RecordingType
    recording_trigger: RecordingTrigger
    platform: PlatformName
    skip_consent: bool
    webhook_url: str | None
    """Only its owner sees the webhook, its secret and the calendar address (they may hold
    credentials); others get ``null``."""
    webhook_secret: str | None
    zulip_auto_post: bool
    zulip_stream: str | None
    zulip_topic: str | None
    ics_url: str | None
    ics_enabled: bool
    ics_fetch_interval: int
    ics_last_sync: datetime | None
    ics_status: str | None
    ics_events_found: int
    created_at: datetime
    updated_at: datetime


class RoomBrief(BaseModel):
    """What anybody opening a room sees of it."""

    name: str
    platform: PlatformName
    is_locked: bool
    room_mode: RoomMode
    recording_type: RecordingType
    recording_trigger: RecordingTrigger
    skip_consent: bool
