"""Queueing events: one event row and one delivery row per subscribed endpoint.

Nothing is sent here: the rows are written in the database (with the caller's other changes,
for meetings) and the background sender (:mod:`.sender`) delivers them, so a slow or broken
receiver never delays or fails a transcript or a meeting.
"""

from __future__ import annotations

from typing import Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import (
    JobRow,
    MeetingRow,
    RoomRow,
    TranscriptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
    new_id,
    utcnow,
)
from reflector.domain.status import TranscriptStatus
from reflector.integrations.webhooks.endpoints import (
    insert_ignoring_conflict,
    subscribed_endpoints,
)
from reflector.integrations.webhooks.payloads import WebhookEventType

log = structlog.get_logger(__name__)


def add_deliveries(session: AsyncSession, event_id: str, endpoints: list[WebhookRow]) -> None:
    """A delivery of the event to each endpoint, due now."""
    now = utcnow()
    for endpoint in endpoints:
        session.add(
            WebhookDeliveryRow(
                webhook_id=endpoint.id, event_id=event_id, next_attempt_at=now, created_at=now
            )
        )


async def queue_event(
    session: AsyncSession,
    event_type: str,
    dedup_key: str,
    endpoints: list[WebhookRow],
    *,
    transcript_id: str | None = None,
    meeting_id: str | None = None,
) -> str | None:
    """Queue the event for ``endpoints`` unless an event with ``dedup_key`` was queued
    before; its id, or ``None`` when it was a repeat. Not committed."""
    if not endpoints:
        return None
    event_id = new_id()
    values = {
        "id": event_id,
        "type": event_type,
        "dedup_key": dedup_key,
        "transcript_id": transcript_id,
        "meeting_id": meeting_id,
        "created_at": utcnow(),
    }
    if not await insert_ignoring_conflict(
        session, WebhookEventRow.__table__, values, ["dedup_key"]
    ):
        return None
    add_deliveries(session, event_id, endpoints)
    await session.flush()
    return event_id


async def _settled_type(
    session: AsyncSession, transcript_id: str, status: TranscriptStatus
) -> tuple[WebhookEventType, str]:
    """The event for a transcript that reached ``status``, and the id of the job that took
    it there (a job that finishes twice, being resumed, reports once)."""
    jobs = (
        await session.execute(
            select(JobRow.id, JobRow.status)
            .where(JobRow.transcript_id == transcript_id)
            .order_by(JobRow.created_at.desc())
        )
    ).all()
    current = jobs[0][0] if jobs else "-"
    if status is TranscriptStatus.ERROR:
        return WebhookEventType.TRANSCRIPT_FAILED, current
    completed_before = any(job_status == "done" for _, job_status in jobs[1:])
    if completed_before:
        return WebhookEventType.TRANSCRIPT_REPROCESSED, current
    return WebhookEventType.TRANSCRIPT_COMPLETED, current


async def queue_transcript_settled(
    session: AsyncSession, transcript_id: str, status: TranscriptStatus
) -> None:
    """Queue ``transcript.completed``/``reprocessed``/``failed`` and commit. A failure here is
    logged, never raised: the transcript's own status is already committed."""
    try:
        transcript = await session.get(TranscriptRow, transcript_id)
        if transcript is None:
            return
        event_type, job_id = await _settled_type(session, transcript_id, status)
        endpoints = await subscribed_endpoints(
            session, transcript.user_id, transcript.room_id, event_type
        )
        event_id = await queue_event(
            session,
            event_type,
            f"{event_type}:{transcript_id}:{job_id}",
            endpoints,
            transcript_id=transcript_id,
        )
        await session.commit()
        if event_id is not None:
            log.info(
                "webhook_event_queued",
                event_type=event_type.value,
                transcript=transcript_id,
                deliveries=len(endpoints),
            )
    except Exception:
        log.exception("webhook_queue_failed", transcript=transcript_id)
        await session.rollback()


MeetingEventKind = Literal["started", "ended"]


async def queue_meeting_event(
    session: AsyncSession, meeting: MeetingRow, kind: MeetingEventKind
) -> str | None:
    """Queue ``meeting.started`` or ``meeting.ended`` for the meeting's room's owner and the
    room's webhook, in the caller's transaction (commit it with the meeting's change). Once
    per meeting and kind, however often it is called; the event id, or ``None``."""
    event_type = WebhookEventType(f"meeting.{kind}")
    room = await session.get(RoomRow, meeting.room_id)
    if room is None:
        return None
    endpoints = await subscribed_endpoints(session, room.user_id, room.id, event_type)
    return await queue_event(
        session, event_type, f"{event_type}:{meeting.id}", endpoints, meeting_id=meeting.id
    )
