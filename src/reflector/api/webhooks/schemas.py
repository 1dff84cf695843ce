"""Request and response bodies of ``/v1/webhooks``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from reflector.api.schemas import StrictBody
from reflector.integrations.webhooks.netguard import UnsafeWebhookUrl, parse_url
from reflector.integrations.webhooks.payloads import WebhookEventType

Url = str


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_url(value.strip())
    except UnsafeWebhookUrl as exc:
        raise ValueError(str(exc)) from None
    return value.strip()


def _unique(events: list[WebhookEventType] | None) -> list[WebhookEventType] | None:
    return None if events is None else list(dict.fromkeys(events))


class WebhookCreate(StrictBody):
    url: Url = Field(min_length=1, max_length=2000)
    """``http://`` or ``https://``; it must lead to a public address."""
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    """Signs the deliveries; a random one is made when not given. Shown once, in the answer."""
    events: list[WebhookEventType] | None = Field(default=None, min_length=1)
    """What to send; default: every event."""
    description: str = Field(default="", max_length=200)
    room_id: str | None = Field(default=None, max_length=64)
    """Set: the webhook of this room of yours (its transcripts and meetings only); it is the
    room's ``webhook_url`` and ``webhook_secret``, which change with it."""

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_unique)


class WebhookUpdate(StrictBody):
    url: Url | None = Field(default=None, min_length=1, max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    rotate_secret: bool = False
    """Make a new random secret (shown once, in the answer)."""
    events: list[WebhookEventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    """``true`` enables an endpoint again (after it was disabled for its failures)."""

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_unique)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    room_id: str | None
    enabled: bool
    failing_since: datetime | None
    """Since when every try failed; ``null`` while deliveries go through."""
    disabled_at: datetime | None
    disabled_reason: str | None
    """The notice written when the endpoint was disabled for its failures."""
    secret_prefix: str
    """The secret's first characters, to tell secrets apart."""
    secret: str | None = None
    """The signing secret: only in the answer that created or changed it."""
    created_at: datetime
    updated_at: datetime


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    transcript_id: str | None
    meeting_id: str | None
    status: str
    """``pending`` (waiting for its next try), ``sending``, ``delivered`` or ``failed``."""
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status: int | None
    response_preview: str | None
    """The first KiB of the receiver's last answer."""
    latency_ms: float | None
    error: str | None
    delivered_at: datetime | None
    created_at: datetime
