"""Posting a finished transcript to its room's Zulip stream, and editing that post when the
transcript is processed again (its message id is kept on the transcript)."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.db.tables import RoomRow, TranscriptRow
from reflector.integrations import outbox
from reflector.integrations.config import transcript_link, zulip_config
from reflector.integrations.digest import load_digest
from reflector.integrations.zulip import (
    ZulipClient,
    ZulipError,
    ZulipNotConfiguredError,
    render_post,
    topic_name,
)
from reflector.settings import Settings

log = structlog.get_logger(__name__)


def room_target(room: RoomRow) -> dict[str, Any] | None:
    """Where the room's transcripts go, or ``None`` when it does not post them."""
    if not room.zulip_auto_post or not (room.zulip_stream or "").strip():
        return None
    topic = (room.zulip_topic or "").strip() or room.name
    return {"stream": room.zulip_stream.strip(), "topic": topic}


async def queue_for_room(session: AsyncSession, transcript: TranscriptRow) -> bool:
    """Queue the post of a transcript recorded in a room that posts to Zulip."""
    room = await session.get(RoomRow, transcript.room_id) if transcript.room_id else None
    target = room_target(room) if room is not None else None
    if target is None:
        return False
    await outbox.queue(session, transcript.id, "zulip", target)
    return True


def _is_missing_message(error: ZulipError) -> bool:
    # Zulip answers an edit of a deleted (or unknown) message with "Invalid message(s)".
    return error.code == "BAD_REQUEST" and "invalid message" in str(error).lower()


async def post_transcript(
    sessions: async_sessionmaker,
    settings: Settings,
    transcript_id: str,
    target: dict[str, Any],
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Post (or edit) the transcript's message; its Zulip message id. Raises
    :class:`ZulipError` (its ``permanent`` says whether a retry can help)."""
    config = zulip_config(settings)
    if config is None:
        raise ZulipNotConfiguredError()
    async with sessions() as session:
        row = await session.get(TranscriptRow, transcript_id)
        if row is None or row.deleted_at is not None:
            raise ZulipError("the transcript was deleted before it could be posted", permanent=True)
        digest = await load_digest(session, row, transcript_link(settings, transcript_id))
        message_id = row.zulip_message_id
    content = render_post(digest)
    client = ZulipClient(config, transport=transport)
    if message_id is not None:
        try:
            await client.edit_message(message_id, content)
            log.info("zulip_message_edited", transcript=transcript_id, message=message_id)
            return message_id
        except ZulipError as error:
            if not (error.permanent and _is_missing_message(error)):
                raise
            log.info("zulip_message_gone", transcript=transcript_id, message=message_id)
    new_id = await client.send_stream_message(
        str(target["stream"]), topic_name(str(target["topic"])), content
    )
    async with sessions() as session:
        await session.execute(
            update(TranscriptRow)
            .where(TranscriptRow.id == transcript_id)
            .values(zulip_message_id=new_id)
        )
        await session.commit()
    log.info("zulip_message_posted", transcript=transcript_id, message=new_id)
    return new_id
