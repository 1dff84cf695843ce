"""What a finished transcript says in a Zulip post or an email: read once from the database,
then rendered by each adapter in its own format (:func:`reflector.integrations.zulip.render_post`,
:func:`reflector.integrations.mail.compose`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db import repository
from reflector.db.tables import ActionItemRow, MeetingRow, RoomRow, TranscriptRow, as_utc


@dataclass(frozen=True)
class Digest:
    title: str
    link: str
    """The transcript's page."""
    summary: str = ""
    decisions: Sequence[str] = ()
    next_steps: Sequence[str] = ()
    when: str = ""
    """When it took place, as words (``2026-01-05 10:00 UTC``)."""
    duration_seconds: float = 0.0


def _when(moment: datetime) -> str:
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _item(row: ActionItemRow) -> str:
    extras = [part for part in (row.person, row.deadline) if part]
    return f"{row.text} ({', '.join(extras)})" if extras else row.text


async def load_digest(session: AsyncSession, row: TranscriptRow, link: str) -> Digest:
    room = await session.get(RoomRow, row.room_id) if row.room_id else None
    meeting = await session.get(MeetingRow, row.meeting_id) if row.meeting_id else None
    items = await repository.load_action_items(session, row.id)
    title = (row.title or row.name or "").strip()
    if not title:
        title = f"Meeting in {room.name}" if room is not None else "Untitled transcript"
    started = meeting.start_date if meeting is not None else row.created_at
    return Digest(
        title=title,
        link=link,
        summary=(row.short_summary or row.long_summary or "").strip(),
        decisions=tuple(_item(item) for item in items if item.kind == "decision"),
        next_steps=tuple(_item(item) for item in items if item.kind == "next_step"),
        when=_when(started),
        duration_seconds=row.duration or 0.0,
    )
