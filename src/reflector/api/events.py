"""Events from routes: the same recording and publishing that pipeline stages use."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.state import AppState
from reflector.domain.events import TranscriptEventType, UserEventType
from reflector.pipelines.publish import publish_user_event, record_and_publish


async def emit_transcript_event(
    state: AppState,
    session: AsyncSession,
    transcript_id: str,
    event_type: TranscriptEventType,
    data: dict[str, Any],
) -> None:
    await record_and_publish(session, state.bus, transcript_id, event_type, data)


async def emit_user_event(
    state: AppState, user_id: str, event_type: UserEventType, transcript_id: str, **data: Any
) -> None:
    await publish_user_event(state.bus, user_id, event_type, transcript_id, **data)
