"""Changing a transcript's status: the row, its ``STATUS`` event and its owner's user event.

Every status change goes through here, so the allowed moves
(:data:`~reflector.domain.status.ALLOWED_TRANSITIONS`) are checked in one place and clients
always hear of a change the same way: a stored ``STATUS`` transcript event (replayed to late
subscribers) and a ``TRANSCRIPT_STATUS`` event on the owner's channel (lists refresh).
A status used as a lock (a live stream taking an idle transcript) is moved, unannounced, by
:func:`reflector.db.repository.move_status`, against the same rules.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.bus import EventBus
from reflector.db import repository
from reflector.db.tables import TranscriptRow
from reflector.domain.events import (
    StatusData,
    StatusEvent,
    TranscriptStatusEvent,
    UserStatusData,
)
from reflector.domain.status import TranscriptStatus, check_transition
from reflector.pipelines.notify import transcript_settled
from reflector.pipelines.publish import publish_user_event, record_and_publish


def apply_status(
    transcript: TranscriptRow, target: TranscriptStatus, error: str | None = None
) -> None:
    """Change the row only (not committed, nothing published): for a change written in one
    transaction with other rows, announced with :func:`announce_status` after the commit.

    ``error`` is kept only with ``error``; any other status clears it. Raises
    :class:`~reflector.domain.status.IllegalTransition`.
    """
    target = check_transition(transcript.status, target)
    transcript.status = target.value
    transcript.error = error if target is TranscriptStatus.ERROR else None


async def announce_status(
    session: AsyncSession,
    bus: EventBus,
    transcript_id: str,
    user_id: str,
    status: TranscriptStatus,
    error: str | None = None,
) -> None:
    """Tell clients about a status already committed: the stored and published ``STATUS``
    event (with ``error`` when there is one), then the owner's ``TRANSCRIPT_STATUS``."""
    data = StatusData(value=status, error=error if status is TranscriptStatus.ERROR else None)
    await record_and_publish(session, bus, transcript_id, StatusEvent(data=data))
    user_event = TranscriptStatusEvent(
        transcript_id=transcript_id, data=UserStatusData(value=status)
    )
    await publish_user_event(bus, user_id, user_event)


async def change_status(
    session: AsyncSession,
    bus: EventBus,
    transcript: TranscriptRow,
    target: TranscriptStatus,
    error: str | None = None,
) -> None:
    """Move ``transcript`` to ``target``: commit the row, then announce it (both events).

    ``error`` says why, with ``target`` ``error``. Raises
    :class:`~reflector.domain.status.IllegalTransition` before changing anything.
    """
    transcript_id, user_id = transcript.id, transcript.user_id
    apply_status(transcript, target, error)
    await session.commit()
    status = TranscriptStatus(target)
    await announce_status(session, bus, transcript_id, user_id, status, error)
    if status in (TranscriptStatus.ENDED, TranscriptStatus.ERROR):
        await transcript_settled(session, transcript_id, status)


async def set_status(
    sessions: async_sessionmaker,
    bus: EventBus,
    transcript_id: str,
    target: TranscriptStatus,
    error: str | None = None,
) -> None:
    """:func:`change_status` for a transcript given by id, in a session of its own."""
    async with sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        await change_status(session, bus, row, target, error)
