"""The people a calendar expected in a transcript's meeting: offered to the summary as the
names its speakers are likely to have."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import MeetingRow, TranscriptRow


async def expected_names(session: AsyncSession, transcript_id: str) -> tuple[str, ...]:
    """The names of the attendees of the calendar event the transcript's meeting was made
    for (``calendar_data.attendees``), without those known only by their address."""
    data = await session.scalar(
        select(MeetingRow.calendar_data)
        .join(TranscriptRow, TranscriptRow.meeting_id == MeetingRow.id)
        .where(TranscriptRow.id == transcript_id)
    )
    attendees = (data or {}).get("attendees") or []
    names = (
        str(person.get("name") or "").strip() for person in attendees if isinstance(person, dict)
    )
    return tuple(dict.fromkeys(name for name in names if name and "@" not in name))
