"""Reading and writing rooms, their meetings, participants, consent answers and platform
recordings.

Visibility follows the rooms' rule: a room is seen by its owner, by administrators, and (when
shared) by every signed-in user; anybody else gets the same "does not exist" as for a name
nobody took.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import (
    MeetingConsentRow,
    MeetingParticipantRow,
    MeetingRow,
    RecordingRow,
    RoomRow,
    utcnow,
)
from reflector.errors import BadInputError, NotFoundError


class RoomNotFound(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"room {name!r} does not exist")


class MeetingNotFound(NotFoundError):
    def __init__(self, meeting_id: str) -> None:
        super().__init__(f"meeting {meeting_id!r} does not exist")


class RoomNameTaken(BadInputError):
    status = 409
    problem_type = "room-name-taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"a room called {name!r} already exists; choose another name")


# --- rooms -----------------------------------------------------------------------------------


async def room_by_name(session: AsyncSession, name: str, *, for_update: bool = False) -> RoomRow:
    """The room called ``name``, whoever owns it (for opening a meeting by its address)."""
    query = select(RoomRow).where(RoomRow.name == name)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise RoomNotFound(name)
    return row


def can_see(room: RoomRow, user_id: str | None, is_admin: bool) -> bool:
    return is_admin or room.user_id == user_id or (room.is_shared and user_id is not None)


def can_manage(room: RoomRow, user_id: str | None, is_admin: bool) -> bool:
    return is_admin or (user_id is not None and room.user_id == user_id)


async def visible_room(session: AsyncSession, name: str, user_id: str, is_admin: bool) -> RoomRow:
    """The room if the user may see it; :class:`RoomNotFound` otherwise."""
    row = await session.scalar(select(RoomRow).where(RoomRow.name == name))
    if row is None or not can_see(row, user_id, is_admin):
        raise RoomNotFound(name)
    return row


async def list_rooms(
    session: AsyncSession, user_id: str, is_admin: bool, offset: int, limit: int
) -> tuple[Sequence[RoomRow], int]:
    """The user's own rooms and the shared ones (every room for an administrator)."""
    where: list[Any] = []
    if not is_admin:
        where.append(or_(RoomRow.user_id == user_id, RoomRow.is_shared.is_(True)))
    total = await session.scalar(select(func.count()).select_from(RoomRow).where(*where))
    rows = await session.scalars(
        select(RoomRow).where(*where).order_by(RoomRow.name).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


async def add_room(session: AsyncSession, row: RoomRow) -> RoomRow:
    """Insert ``row`` (committed); :class:`RoomNameTaken` when its name is in use."""
    session.add(row)
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        raise RoomNameTaken(row.name) from error
    return row


async def save_room(session: AsyncSession, row: RoomRow) -> None:
    """Commit changes to ``row``; :class:`RoomNameTaken` when a rename collides."""
    name = row.name
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        raise RoomNameTaken(name) from error


# --- meetings --------------------------------------------------------------------------------


async def meeting(session: AsyncSession, meeting_id: str) -> MeetingRow:
    row = await session.get(MeetingRow, meeting_id)
    if row is None:
        raise MeetingNotFound(meeting_id)
    return row


async def meeting_by_platform_id(
    session: AsyncSession, platform: str, platform_meeting_id: str
) -> MeetingRow | None:
    return await session.scalar(
        select(MeetingRow).where(
            MeetingRow.platform == platform,
            MeetingRow.platform_meeting_id == platform_meeting_id,
        )
    )


def _current(now: datetime) -> Any:
    return (
        MeetingRow.is_active.is_(True),
        or_(MeetingRow.end_date.is_(None), MeetingRow.end_date > now),
    )


async def reusable_meeting(session: AsyncSession, room: RoomRow) -> MeetingRow | None:
    """The newest active, unexpired meeting opened in ``room`` (not one made for a calendar
    event) that was created with the room's current settings."""
    return await session.scalar(
        select(MeetingRow)
        .where(
            MeetingRow.room_id == room.id,
            *_current(utcnow()),
            MeetingRow.calendar_event_id.is_(None),
            MeetingRow.platform_meeting_id.is_not(None),
            MeetingRow.platform == room.platform,
            MeetingRow.room_mode == room.room_mode,
            MeetingRow.recording_type == room.recording_type,
            MeetingRow.recording_trigger == room.recording_trigger,
        )
        .order_by(MeetingRow.created_at.desc())
        .limit(1)
    )


async def active_meetings(session: AsyncSession, room_id: str) -> Sequence[MeetingRow]:
    """Meetings running now (started, not ended, not deactivated), newest first."""
    now = utcnow()
    rows = await session.scalars(
        select(MeetingRow)
        .where(MeetingRow.room_id == room_id, *_current(now), MeetingRow.start_date <= now)
        .order_by(MeetingRow.start_date.desc())
    )
    return rows.all()


async def upcoming_meetings(session: AsyncSession, room_id: str) -> Sequence[MeetingRow]:
    """Active meetings that start later (made ahead from the room's calendar), soonest first."""
    now = utcnow()
    rows = await session.scalars(
        select(MeetingRow)
        .where(MeetingRow.room_id == room_id, *_current(now), MeetingRow.start_date > now)
        .order_by(MeetingRow.start_date)
    )
    return rows.all()


# --- participants ----------------------------------------------------------------------------


def _present(meeting_id: str) -> Any:
    """The participants of the meeting who have not left: who is there now."""
    return (
        MeetingParticipantRow.meeting_id == meeting_id,
        MeetingParticipantRow.left_at.is_(None),
    )


async def participant_joined(
    session: AsyncSession,
    meeting: MeetingRow,
    participant_id: str,
    *,
    user_id: str | None,
    name: str | None,
    at: datetime | None,
    num_clients: int | None = None,
) -> bool:
    """Record a join and the meeting's head count; returns whether the join is new (a
    webhook delivered again changes nothing)."""
    row = await session.scalar(
        select(MeetingParticipantRow).where(
            MeetingParticipantRow.meeting_id == meeting.id,
            MeetingParticipantRow.participant_id == participant_id,
        )
    )
    if row is None:
        session.add(
            MeetingParticipantRow(
                meeting_id=meeting.id,
                participant_id=participant_id,
                user_id=user_id,
                name=(name or "")[:200],
                joined_at=at or utcnow(),
            )
        )
        try:
            await session.flush()
        except IntegrityError:  # the same webhook delivered twice at once
            await session.rollback()
            return False
    await _count_clients(session, meeting, num_clients)
    await session.commit()
    return row is None


async def participant_left(
    session: AsyncSession,
    meeting: MeetingRow,
    participant_id: str,
    *,
    at: datetime | None,
    num_clients: int | None = None,
) -> None:
    await session.execute(
        update(MeetingParticipantRow)
        .where(*_present(meeting.id), MeetingParticipantRow.participant_id == participant_id)
        .values(left_at=at or utcnow())
    )
    await _count_clients(session, meeting, num_clients)
    await session.commit()


async def _count_clients(session: AsyncSession, meeting: MeetingRow, reported: int | None) -> None:
    if reported is not None:
        meeting.num_clients = max(0, reported)
        return
    present = await session.scalar(
        select(func.count()).select_from(MeetingParticipantRow).where(*_present(meeting.id))
    )
    meeting.num_clients = int(present or 0)


async def participants(session: AsyncSession, meeting_id: str) -> Sequence[MeetingParticipantRow]:
    rows = await session.scalars(
        select(MeetingParticipantRow)
        .where(MeetingParticipantRow.meeting_id == meeting_id)
        .order_by(MeetingParticipantRow.joined_at)
    )
    return rows.all()


async def is_present(session: AsyncSession, meeting_id: str, user_id: str) -> bool:
    """Whether the user joined the meeting (as the platform reported) and has not left."""
    found = await session.scalar(
        select(MeetingParticipantRow.id).where(
            *_present(meeting_id), MeetingParticipantRow.user_id == user_id
        )
    )
    return found is not None


# --- consent ---------------------------------------------------------------------------------


async def set_consent(
    session: AsyncSession,
    meeting_id: str,
    participant_key: str,
    user_id: str | None,
    consent_given: bool,
) -> MeetingConsentRow:
    """Record (or change) one participant's answer; committed."""
    query = _consent_query(meeting_id, participant_key)
    row = await session.scalar(query)
    if row is None:
        row = MeetingConsentRow(
            meeting_id=meeting_id,
            participant_key=participant_key,
            user_id=user_id,
            consent_given=consent_given,
        )
        session.add(row)
        try:
            await session.commit()
            return row
        except IntegrityError:  # the same person answered twice at once: update theirs
            await session.rollback()
            row = await session.scalar(query)
            assert row is not None
    row.consent_given = consent_given
    await session.commit()
    return row


def _consent_query(meeting_id: str, participant_key: str) -> Select[tuple[MeetingConsentRow]]:
    """One participant's answer in one meeting (the table keeps at most one)."""
    return select(MeetingConsentRow).where(
        MeetingConsentRow.meeting_id == meeting_id,
        MeetingConsentRow.participant_key == participant_key,
    )


async def consent(
    session: AsyncSession, meeting_id: str, participant_key: str
) -> MeetingConsentRow | None:
    return await session.scalar(_consent_query(meeting_id, participant_key))


async def anyone_declined(session: AsyncSession, meeting_id: str) -> bool:
    found = await session.scalar(
        select(MeetingConsentRow.id).where(
            MeetingConsentRow.meeting_id == meeting_id,
            MeetingConsentRow.consent_given.is_(False),
        )
    )
    return found is not None


# --- platform recordings ---------------------------------------------------------------------


async def add_recording(session: AsyncSession, row: RecordingRow) -> tuple[RecordingRow, bool]:
    """Insert ``row`` unless the platform's recording id is known; returns the stored row and
    whether it is new (committed)."""
    existing = await recording_by_platform_id(session, row.platform, row.platform_recording_id)
    if existing is not None:
        return existing, False
    session.add(row)
    try:
        await session.commit()
        return row, True
    except IntegrityError:  # the webhook and a poll at once: the other one stored it
        await session.rollback()
        existing = await recording_by_platform_id(session, row.platform, row.platform_recording_id)
        assert existing is not None
        return existing, False


async def recording_by_platform_id(
    session: AsyncSession, platform: str, platform_recording_id: str
) -> RecordingRow | None:
    return await session.scalar(
        select(RecordingRow).where(
            RecordingRow.platform == platform,
            RecordingRow.platform_recording_id == platform_recording_id,
        )
    )


async def claim_recording(session: AsyncSession, recording_id: str, *from_status: str) -> bool:
    """Move a recording to ``processing`` if it is in one of ``from_status`` (default
    ``pending``): the one caller that wins processes it. Committed."""
    statuses = from_status or ("pending",)
    result = await session.execute(
        update(RecordingRow)
        .where(RecordingRow.id == recording_id, RecordingRow.status.in_(statuses))
        .values(status="processing", attempts=RecordingRow.attempts + 1, error=None)
    )
    await session.commit()
    return result.rowcount == 1


async def finish_recording(
    session: AsyncSession,
    recording_id: str,
    status: str,
    *,
    transcript_id: str | None = None,
    error: str | None = None,
) -> None:
    """Set a processing recording's outcome (``done``, ``error`` or ``ignored``); committed."""
    values: dict[str, Any] = {"status": status, "error": error}
    if transcript_id is not None:
        values["transcript_id"] = transcript_id
    await session.execute(
        update(RecordingRow).where(RecordingRow.id == recording_id).values(**values)
    )
    await session.commit()


async def pending_recordings(session: AsyncSession, limit: int = 20) -> Sequence[str]:
    rows = await session.scalars(
        select(RecordingRow.id)
        .where(RecordingRow.status == "pending")
        .order_by(RecordingRow.created_at)
        .limit(limit)
    )
    return rows.all()
