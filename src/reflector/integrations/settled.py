"""Zulip posts and summary emails queued when a transcript ends (called by
:func:`reflector.pipelines.notify.transcript_settled`)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import TranscriptRow
from reflector.domain.status import TranscriptStatus
from reflector.integrations import outbox
from reflector.integrations.summary_mail import has_unsent
from reflector.integrations.zulip_posts import queue_for_room

log = structlog.get_logger(__name__)


async def queue_chat_and_email(
    session: AsyncSession, transcript_id: str, status: TranscriptStatus
) -> None:
    """Queue the room's Zulip post (edited if there is one already) and the summary emails
    people asked for, once the transcript has ended. Never raises: a failure here is logged
    and must not undo or hide the transcript's own status."""
    if status != TranscriptStatus.ENDED:
        return
    try:
        row = await session.get(TranscriptRow, transcript_id)
        if row is None or row.deleted_at is not None:
            return
        await queue_for_room(session, row)
        if await has_unsent(session, row):
            await outbox.queue(session, row.id, "email")
    except Exception:
        await session.rollback()
        log.exception("notifications_not_queued", transcript=transcript_id)
