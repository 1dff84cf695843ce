"""``/v1/zulip``: the streams and topics the bot sees (for choosing a room's stream and topic);
``/v1/transcripts/{id}/zulip``: post a transcript now; ``/v1/transcripts/{id}/notifications``:
how its Zulip post and summary emails went.

Zulip's own errors come back as problems whose ``detail`` says what went wrong in words: 422
``zulip-not-configured`` (no bot set up), 502 ``zulip-error`` (Zulip refused: wrong
credentials, a missing stream), 503 ``zulip-unavailable`` (Zulip unreachable or overloaded).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from reflector.api.deps import Session, State, User, owned_transcript
from reflector.api.integrations.schemas import (
    NotificationOut,
    NotificationsOut,
    ZulipPostIn,
    ZulipStreamOut,
    ZulipTopicOut,
)
from reflector.api.problems import Problem
from reflector.db.tables import RoomRow
from reflector.integrations import outbox
from reflector.integrations.config import zulip_config
from reflector.integrations.zulip import ZulipClient, ZulipError, ZulipNotConfiguredError
from reflector.integrations.zulip_posts import room_target
from reflector.settings import Settings

router = APIRouter(tags=["integrations"])


def _client(settings: Settings) -> ZulipClient:
    config = zulip_config(settings)
    if config is None:
        raise ZulipNotConfiguredError()
    return ZulipClient(config)


def _problem(error: ZulipError) -> Problem:
    if error.permanent:
        return Problem(502, "zulip-error", str(error), code=error.code)
    return Problem(503, "zulip-unavailable", str(error))


@router.get("/v1/zulip/streams", response_model=list[ZulipStreamOut])
async def zulip_streams(state: State, user: User) -> list[ZulipStreamOut]:
    """The streams the bot can see, by name."""
    try:
        streams = await _client(state.settings).streams()
    except ZulipError as error:
        raise _problem(error) from error
    return [ZulipStreamOut(**vars(stream)) for stream in streams]


@router.get("/v1/zulip/streams/{stream_id}/topics", response_model=list[ZulipTopicOut])
async def zulip_topics(
    stream_id: Annotated[int, Path(ge=1, le=2**53)], state: State, user: User
) -> list[ZulipTopicOut]:
    """The topics of a stream, most recently active first."""
    try:
        topics = await _client(state.settings).topics(stream_id)
    except ZulipError as error:
        raise _problem(error) from error
    return [ZulipTopicOut(**vars(topic)) for topic in topics]


async def _notifications(session: Session, transcript_id: str, message_id: int | None):
    rows = await outbox.notifications(session, transcript_id)
    return NotificationsOut(
        zulip_message_id=message_id,
        notifications=[
            NotificationOut(
                kind=row.kind,  # type: ignore[arg-type]
                status=row.status,  # type: ignore[arg-type]
                attempts=row.attempts,
                error=row.error,
                target=row.target,
                next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                sent_at=row.sent_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ],
    )


@router.post(
    "/v1/transcripts/{transcript_id}/zulip", status_code=202, response_model=NotificationsOut
)
async def post_to_zulip(
    transcript_id: str, body: ZulipPostIn, session: Session, state: State, user: User
) -> NotificationsOut:
    """Post the transcript to Zulip (or edit its post), in the background, to ``stream`` and
    ``topic`` or, unset, its room's. 409 ``not-ended`` before the transcript has ended, 422
    ``no-zulip-stream`` when neither says where, 422 ``zulip-not-configured``."""
    if zulip_config(state.settings) is None:
        raise ZulipNotConfiguredError()
    row = await owned_transcript(session, transcript_id, user)
    if row.status != "ended":
        raise Problem(409, "not-ended", "only an ended transcript can be posted")
    room = await session.get(RoomRow, row.room_id) if row.room_id else None
    defaults = room_target(room) if room is not None else None
    if room is not None and defaults is None and room.zulip_stream:
        defaults = {"stream": room.zulip_stream, "topic": room.zulip_topic or room.name}
    stream = body.stream or (defaults or {}).get("stream")
    topic = body.topic or (defaults or {}).get("topic") or row.title or row.name or "Reflector"
    if not stream:
        raise Problem(
            422, "no-zulip-stream", "say which stream: the transcript's room has no Zulip stream"
        )
    message_id = row.zulip_message_id
    await outbox.queue(session, transcript_id, "zulip", {"stream": stream, "topic": topic})
    return await _notifications(session, transcript_id, message_id)


@router.get("/v1/transcripts/{transcript_id}/notifications", response_model=NotificationsOut)
async def transcript_notifications(
    transcript_id: str, session: Session, user: User
) -> NotificationsOut:
    """How the transcript's Zulip post and summary emails went (the owner only)."""
    row = await owned_transcript(session, transcript_id, user)
    return await _notifications(session, transcript_id, row.zulip_message_id)
