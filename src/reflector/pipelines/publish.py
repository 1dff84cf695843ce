"""Record a transcript event and publish it: the one way stages and routes tell clients.

A change is committed before it is published, so an event bus that cannot be reached must not
turn a change that happened into an error (the caller would try again and change twice):
:func:`record_and_publish` and :func:`publish_user_event` log a :class:`~reflector.bus.BusError`
and go on. Nothing is lost by it: the transcript event is stored (replayed to whoever
subscribes), and a user event only nudges screens whose subscriptions broke with the bus (they
subscribe again and reload).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.bus import BusError, EventBus, transcript_channel, user_channel
from reflector.db import repository
from reflector.domain.events import TranscriptEvent, UserEvent

log = structlog.get_logger(__name__)


async def record_and_publish(
    session: AsyncSession, bus: EventBus, transcript_id: str, event: TranscriptEvent
) -> int:
    """Store the event (committing the session), then publish it with its position (or, when
    the bus is away, log that it was not)."""
    row = await repository.add_event(session, transcript_id, event)
    await session.commit()
    try:
        await publish_transcript_event(bus, transcript_id, event.model_copy(update={"id": row.id}))
    except BusError as error:
        log.warning("event_not_published", transcript=transcript_id, id=row.id, error=str(error))
    return row.id


async def publish_transcript_event(
    bus: EventBus, transcript_id: str, event: TranscriptEvent
) -> None:
    """Publish without storing: for passing news such as interim words (``id`` None)."""
    await bus.publish(transcript_channel(transcript_id), event.model_dump(mode="json"))


async def emit(
    sessions: async_sessionmaker, bus: EventBus, transcript_id: str, event: TranscriptEvent
) -> int:
    """:func:`record_and_publish` in a session of its own."""
    async with sessions() as session:
        return await record_and_publish(session, bus, transcript_id, event)


async def publish_user_event(bus: EventBus, user_id: str, event: UserEvent) -> None:
    """User events are not stored: they only nudge a user's open screens to refresh (none is
    sent while the bus is away; see the module's docstring)."""
    try:
        await bus.publish(user_channel(user_id), event.model_dump(mode="json"))
    except BusError as error:
        log.warning("user_event_not_published", user=user_id, error=str(error))
