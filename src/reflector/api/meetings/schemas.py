"""Request and response bodies of meetings: opening a room, joining, recording, consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from reflector.api.rooms.schemas import RoomBrief
from reflector.api.schemas import StrictBody

PARTICIPANT_KEY_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"
"""A browser's own random id (16 to 128 URL-safe characters) for an anonymous participant."""


class MeetingOut(BaseModel):
    id: str
    room_id: str
    room_name: str
    platform: str
    room_url: str | None
    """Where participants join; ``null`` for an upcoming meeting not yet on the platform."""
    host_room_url: str | None
    """Only for the room's owner (``null`` for others)."""
    start_date: datetime
    end_date: datetime | None
    is_active: bool
    num_clients: int
    """People in the meeting now, as the platform last reported."""
    room_mode: str
    recording_type: str
    recording_trigger: str
    calendar_event_id: str | None
    calendar_data: dict[str, Any] | None
    """The calendar event's title, description and attendees: only for the room's owner."""


class JoinOut(BaseModel):
    """How the caller joins the meeting."""

    url: str
    """Open this (it carries the meeting token where the platform uses one)."""
    token: str | None
    """The platform's meeting token (Daily), for clients that pass it themselves."""
    is_owner: bool
    """The caller joins as the room's owner (may record, admit and remove people)."""
    expires_at: datetime | None


class MeetingJoinOut(BaseModel):
    room: RoomBrief
    meeting: MeetingOut
    join: JoinOut


class MeetingsOut(BaseModel):
    active: list[MeetingOut]
    """Running now, newest first (a room may have several)."""
    upcoming: list[MeetingOut]
    """Made ahead of time (from the room's calendar), soonest first."""


class RecordingStart(StrictBody):
    type: Literal["cloud", "raw-tracks"] = "raw-tracks"
    """``raw-tracks``: one audio file per participant (transcribed per speaker); ``cloud``:
    one mixed file."""
    instance_id: UUID | None = None
    """Lets a client start and later stop the same recording."""


class RecordingStarted(BaseModel):
    meeting_id: str
    type: str
    recording_id: str | None
    """The platform's recording id, when it gives one at once."""


class ConsentIn(StrictBody):
    consent_given: bool
    """May the meeting's audio be kept after it is transcribed?"""
    participant_key: str | None = Field(default=None, pattern=PARTICIPANT_KEY_PATTERN)
    """For someone not signed in: a random id the browser keeps, so a later answer replaces
    this one. Ignored for a signed-in user (answers are theirs)."""


class ConsentOut(BaseModel):
    meeting_id: str
    participant_key: str | None
    consent_given: bool | None
    """``null``: this participant has not answered."""
    audio_kept: bool
    """Whether the meeting's audio will be kept as things stand: nobody declined, or the room
    keeps audio regardless (``skip_consent``)."""
