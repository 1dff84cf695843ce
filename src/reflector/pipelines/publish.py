"""Record a transcript event and publish it: the one way stages and routes tell clients."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.bus import EventBus, transcript_channel, user_channel
from reflector.db import repository
from reflector.domain.events import TranscriptEvent, UserEvent


async def record_and_publish(
    session: AsyncSession, bus: EventBus, transcript_id: str, event: TranscriptEvent
) -> int:
    """Store the event (committing the session), then publish it with its position."""
    row = await repository.add_event(session, transcript_id, event)
    await session.commit()
    await publish_transcript_event(bus, transcript_id, event.model_copy(update={"id": row.id}))
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
    """User events are not stored: they only nudge a user's open screens to refresh."""
    await bus.publish(user_channel(user_id), event.model_dump(mode="json"))
