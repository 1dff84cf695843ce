"""Checking a Whereby webhook and recording what it says about a meeting's participants."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from reflector.api.meetings.events import apply_event
from reflector.api.state import AppState
from reflector.api.whereby.schemas import WebhookAck
from reflector.db import rooms
from reflector.platforms.base import ParticipantEvent
from reflector.platforms.whereby import check_webhook, parse_webhook

log = structlog.get_logger(__name__)

PLATFORM = "whereby"


async def handle_webhook(state: AppState, body: bytes, headers: Mapping[str, str]) -> WebhookAck:
    """Verify ``body`` (raises :class:`~reflector.platforms.base.WebhookSignatureError`, 401),
    read it (raises :class:`~reflector.platforms.base.WebhookPayloadError`, 400) and apply a
    join or leave to the meeting's participants and head count. Other events, and events of
    meetings this server does not know, are acknowledged and ignored, so Whereby does not send
    them again."""
    settings = state.settings
    secret = settings.whereby_webhook_secret
    check_webhook(
        secret.get_secret_value() if secret else None,
        body,
        headers,
        tolerance=settings.platform_webhook_tolerance_seconds,
    )
    api_key = settings.whereby_api_key
    parsed = parse_webhook(body, user_key=api_key.get_secret_value() if api_key else None)
    event = parsed.event
    if not isinstance(event, ParticipantEvent):
        log.debug("whereby_webhook_ignored", type=parsed.type)
        return WebhookAck(type=parsed.type, handled=False)
    async with state.sessions() as session:
        meeting = await rooms.meeting_by_platform_id(session, PLATFORM, event.platform_meeting_id)
    if meeting is None:
        log.info("whereby_webhook_unknown_meeting", meeting=event.platform_meeting_id)
        return WebhookAck(type=parsed.type, handled=False)
    await apply_event(state, PLATFORM, event)
    return WebhookAck(type=parsed.type, handled=True)
