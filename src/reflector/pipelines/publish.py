"""Record a transcript event and publish it: the one way stages and routes tell clients."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.bus import EventBus, transcript_channel, user_channel
from reflector.db import repository
from reflector.domain.events import TranscriptEventType, UserEventType


async def record_and_publish(
    session: AsyncSession,
    bus: EventBus,
    transcript_id: str,
    event_type: TranscriptEventType,
    data: dict[str, Any],
) -> int:
    """Store the event (committing the session), then publish it with its position."""
    row = await repository.add_event(session, transcript_id, event_type, data)
    await session.commit()
    await publish_transcript_event(bus, transcript_id, event_type, data, row.id)
    return row.id


async def publish_transcript_event(
    bus: EventBus,
    transcript_id: str,
    event_type: TranscriptEventType,
    data: dict[str, Any],
    event_id: int | None = None,
) -> None:
    """Publish without storing (``event_id`` None): for passing news such as interim words."""
    await bus.publish(
        transcript_channel(transcript_id), {"id": event_id, "type": event_type, "data": data}
    )


async def emit(
    sessions: async_sessionmaker,
    bus: EventBus,
    transcript_id: str,
    event_type: TranscriptEventType,
    data: dict[str, Any],
) -> int:
    """:func:`record_and_publish` in a session of its own."""
    async with sessions() as session:
        return await record_and_publish(session, bus, transcript_id, event_type, data)


async def publish_user_event(
    bus: EventBus, user_id: str, event_type: UserEventType, transcript_id: str, **data: Any
) -> None:
    """User events are not stored: they only nudge a user's open screens to refresh."""
    await bus.publish(
        user_channel(user_id), {"type": event_type, "transcript_id": transcript_id, "data": data}
    )
