"""Request and response bodies of the Zulip, calendar and email routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from reflector.api.schemas import StrictBody


class ZulipStreamOut(BaseModel):
    stream_id: int
    name: str
    description: str = ""


class ZulipTopicOut(BaseModel):
    name: str
    max_id: int
    """The newest message in the topic: topics come most recently active first."""


class ZulipPostIn(StrictBody):
    """Where to post; unset fields come from the transcript's room."""

    stream: str | None = Field(default=None, min_length=1, max_length=200)
    topic: str | None = Field(default=None, min_length=1, max_length=200)


class NotificationOut(BaseModel):
    kind: Literal["zulip", "email"]
    status: Literal["pending", "sent", "failed"]
    """``pending``: waiting for its (next) try; ``failed``: given up, ``error`` says why."""
    attempts: int
    error: str | None
    """The last try's error, in words."""
    target: dict[str, str] | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    updated_at: datetime


class NotificationsOut(BaseModel):
    zulip_message_id: int | None
    """The Zulip message that announced the transcript (edited when it is processed again)."""
    notifications: list[NotificationOut]


class EmailRequestIn(StrictBody):
    email: str = Field(min_length=3, max_length=320)


class EmailRequestOut(BaseModel):
    id: str
    email: str
    meeting_id: str | None
    transcript_id: str | None
    created_at: datetime
    sent_at: datetime | None
    error: str | None
    queued: bool
    """The transcript has ended already: the mail is being sent now; otherwise it is sent
    when the transcript ends."""


class CalendarStatusOut(BaseModel):
    enabled: bool
    """The room's calendar is read every ``fetch_interval`` seconds."""
    url_set: bool
    status: str | None
    """The last sync's outcome in words: ``ok``, or why the calendar could not be read;
    ``null`` before the first."""
    last_sync: datetime | None
    next_sync: datetime | None
    """``null`` while the calendar is off or has no URL."""
    events_found: int
    """Events from an hour ago to a day ahead that link to the room."""
    fetch_interval: int


class CalendarSyncOut(CalendarStatusOut):
    ok: bool
    created: int
    updated: int
    cancelled: int
    not_modified: bool
    """The calendar server answered 304 Not Modified; the copy kept from before was read."""
