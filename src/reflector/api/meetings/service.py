"""What the meeting routes do, apart from HTTP: opening a room (one meeting for everybody who
opens it at once), joining, listing, ending, recording and consent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser
from reflector.api.meetings.access import open_platform
from reflector.api.meetings.schemas import (
    ConsentOut,
    JoinOut,
    MeetingJoinOut,
    MeetingOut,
    MeetingsOut,
    RecordingStart,
    RecordingStarted,
)
from reflector.api.problems import Problem
from reflector.api.rooms.service import room_brief
from reflector.api.schemas import from_row
from reflector.api.state import AppState
from reflector.db import rooms as db
from reflector.db.tables import MeetingRow, RoomRow, User, as_utc, utcnow
from reflector.errors import ReflectorError
from reflector.integrations.webhooks import queue_meeting_event
from reflector.platforms.base import Joiner, MeetingSpec, PlatformMeeting

log = structlog.get_logger(__name__)


def _ids(user: CurrentUser | None) -> tuple[str | None, bool]:
    return (user.id if user else None), bool(user and user.is_admin)


def meeting_out(row: MeetingRow, room: RoomRow, user: CurrentUser | None) -> MeetingOut:
    owner = db.can_manage(room, *_ids(user))
    return from_row(
        MeetingOut,
        row,
        room_name=room.name,
        host_room_url=row.host_room_url if owner else None,
        calendar_data=row.calendar_data if owner else None,
    )


def _platform_meeting(row: MeetingRow) -> PlatformMeeting:
    assert row.platform_meeting_id and row.room_url
    return PlatformMeeting(
        platform_meeting_id=row.platform_meeting_id,
        room_url=row.room_url,
        host_room_url=row.host_room_url or row.room_url,
        start_date=as_utc(row.start_date),
        end_date=as_utc(row.end_date or utcnow()),
    )


def _lock(state: AppState, room_name: str) -> asyncio.Lock:
    return state.room_locks.setdefault(room_name, asyncio.Lock())


async def _create_on_platform(state: AppState, room: RoomRow, row: MeetingRow) -> None:
    """Create ``row``'s meeting on the room's platform, with the room's current settings."""
    end = as_utc(row.end_date) if row.end_date else None
    end = end or utcnow() + timedelta(seconds=state.settings.meeting_max_seconds)
    spec = MeetingSpec(
        room_name=room.name,
        end_date=end,
        room_mode=room.room_mode,
        is_locked=room.is_locked,
        recording_type=room.recording_type,
        recording_trigger=room.recording_trigger,
    )
    async with open_platform(state, room.platform) as platform:
        created = await platform.create_meeting(spec)
    row.platform = room.platform
    row.platform_meeting_id = created.platform_meeting_id
    row.room_url = created.room_url
    row.host_room_url = created.host_room_url
    row.end_date = created.end_date
    row.room_mode = room.room_mode
    row.recording_type = room.recording_type
    row.recording_trigger = room.recording_trigger


async def open_meeting(
    state: AppState, session: AsyncSession, name: str, user: CurrentUser | None
) -> MeetingJoinOut:
    """The room's current meeting, made on the platform when there is none with the room's
    settings. Everybody who knows the room's name may open it (guests too): its address is
    how people are invited. Under the room's lock (this server's, and the room row's on
    PostgreSQL), so people opening it at once get the same meeting."""
    async with _lock(state, name):
        room = await db.room_by_name(session, name, for_update=True)
        meeting = await db.reusable_meeting(session, room)
        if meeting is None:
            meeting = MeetingRow(room_id=room.id, start_date=utcnow())
            await _create_on_platform(state, room, meeting)
            session.add(meeting)
            log.info("meeting_created", room=room.name, meeting=meeting.platform_meeting_id)
        await session.commit()  # releases the row lock
    return MeetingJoinOut(
        room=room_brief(room),
        meeting=meeting_out(meeting, room, user),
        join=await _join(state, session, room, meeting, user),
    )


async def join_meeting(
    state: AppState, session: AsyncSession, meeting_id: str, user: CurrentUser | None
) -> MeetingJoinOut:
    """Join a given meeting (e.g. one made ahead from the calendar, created on the platform
    now if it is not yet); 410 once it has ended."""
    meeting = await db.meeting(session, meeting_id)
    room = await session.get(RoomRow, meeting.room_id)
    assert room is not None
    _ensure_running(meeting)
    if meeting.platform_meeting_id is None:
        async with _lock(state, room.name):
            await session.refresh(meeting, with_for_update=True)
            if meeting.platform_meeting_id is None:
                await _create_on_platform(state, room, meeting)
            await session.commit()
    return MeetingJoinOut(
        room=room_brief(room),
        meeting=meeting_out(meeting, room, user),
        join=await _join(state, session, room, meeting, user),
    )


def _ensure_running(meeting: MeetingRow) -> None:
    end = as_utc(meeting.end_date) if meeting.end_date else None
    if not meeting.is_active or (end is not None and end <= utcnow()):
        raise Problem(410, "meeting-ended", "this meeting has ended; open the room again")


async def _join(
    state: AppState,
    session: AsyncSession,
    room: RoomRow,
    meeting: MeetingRow,
    user: CurrentUser | None,
) -> JoinOut:
    owner = db.can_manage(room, *_ids(user))
    name = None
    if user is not None:
        account = await session.get(User, user.id)
        name = account.name if account and account.name else None
    participant = Joiner(user_id=user.id if user else None, name=name, is_owner=owner)
    async with open_platform(state, meeting.platform) as platform:
        info = await platform.join(_platform_meeting(meeting), participant)
    return JoinOut(url=info.url, token=info.token, is_owner=owner, expires_at=info.expires_at)


async def list_meetings(session: AsyncSession, name: str, user: CurrentUser) -> MeetingsOut:
    room = await db.visible_room(session, name, user.id, user.is_admin)
    active = await db.active_meetings(session, room.id)
    upcoming = await db.upcoming_meetings(session, room.id)
    return MeetingsOut(
        active=[meeting_out(m, room, user) for m in active],
        upcoming=[meeting_out(m, room, user) for m in upcoming],
    )


async def _meeting_and_room(
    session: AsyncSession, meeting_id: str, user: CurrentUser, *, manage: bool
) -> tuple[MeetingRow, RoomRow]:
    """The meeting and its room: 404 for a room the user cannot see, 403 when ``manage``
    and they see it without owning it."""
    meeting = await db.meeting(session, meeting_id)
    room = await session.get(RoomRow, meeting.room_id)
    if room is None or not db.can_see(room, user.id, user.is_admin):
        raise db.MeetingNotFound(meeting_id)
    if manage and not db.can_manage(room, user.id, user.is_admin):
        raise Problem(403, "not-room-owner", "only the room's owner may end its meetings")
    return meeting, room


async def deactivate(
    state: AppState, session: AsyncSession, meeting_id: str, user: CurrentUser
) -> MeetingOut:
    """End the meeting now (idempotent); the platform's meeting is ended too, as far as the
    platform can be reached (it expires by itself anyway)."""
    meeting, room = await _meeting_and_room(session, meeting_id, user, manage=True)
    if meeting.is_active:
        meeting.is_active = False
        meeting.end_date = utcnow()
        await queue_meeting_event(session, meeting, "ended")  # webhooks, in this transaction
        await session.commit()
        if meeting.platform_meeting_id:
            try:
                async with open_platform(state, meeting.platform) as platform:
                    await platform.delete_meeting(meeting.platform_meeting_id)
            except ReflectorError as error:
                log.warning("meeting_not_ended_on_platform", meeting=meeting.id, error=str(error))
    return meeting_out(meeting, room, user)


async def start_recording(
    state: AppState,
    session: AsyncSession,
    meeting_id: str,
    user: CurrentUser,
    body: RecordingStart,
) -> RecordingStarted:
    """Only the room's owner (or an administrator) and people in the meeting may start it."""
    meeting = await db.meeting(session, meeting_id)
    room = await session.get(RoomRow, meeting.room_id)
    assert room is not None
    allowed = db.can_manage(room, user.id, user.is_admin) or await db.is_present(
        session, meeting.id, user.id
    )
    if not allowed:
        if db.can_see(room, user.id, user.is_admin):
            raise Problem(
                403, "not-a-participant", "only the meeting's participants may start recording"
            )
        raise db.MeetingNotFound(meeting_id)
    _ensure_running(meeting)
    if meeting.recording_type != "cloud":
        raise Problem(409, "recording-disabled", "this meeting is not recorded in the cloud")
    if meeting.platform_meeting_id is None:
        raise Problem(409, "meeting-not-started", "nobody has joined this meeting yet")
    instance = str(body.instance_id) if body.instance_id else None
    async with open_platform(state, meeting.platform) as platform:
        recording = await platform.start_recording(
            meeting.platform_meeting_id, body.type, instance_id=instance
        )
    return RecordingStarted(meeting_id=meeting.id, type=body.type, recording_id=recording)


def participant_key(user: CurrentUser | None, given: str | None) -> str:
    """Who answers: the signed-in user, else the browser's own random id (422 without)."""
    if user is not None:
        return f"user:{user.id}"
    if not given:
        raise Problem(
            422,
            "participant-key-required",
            "without signing in, send participant_key: a random id the browser keeps",
        )
    return f"guest:{given}"


async def consent_out(
    session: AsyncSession, meeting: MeetingRow, key: str | None, answer: bool | None
) -> ConsentOut:
    room = await session.get(RoomRow, meeting.room_id)
    skip = bool(room and room.skip_consent)
    declined = await db.anyone_declined(session, meeting.id)
    shown = key.split(":", 1)[1] if key and key.startswith("guest:") else None
    return ConsentOut(
        meeting_id=meeting.id,
        participant_key=shown,
        consent_given=answer,
        audio_kept=skip or not declined,
    )


async def set_consent(
    session: AsyncSession,
    meeting_id: str,
    user: CurrentUser | None,
    given: str | None,
    consent_given: bool,
) -> ConsentOut:
    meeting = await db.meeting(session, meeting_id)
    key = participant_key(user, given)
    await db.set_consent(session, meeting.id, key, user.id if user else None, consent_given)
    return await consent_out(session, meeting, key, consent_given)


async def get_consent(
    session: AsyncSession, meeting_id: str, user: CurrentUser | None, given: str | None
) -> ConsentOut:
    meeting = await db.meeting(session, meeting_id)
    key = participant_key(user, given) if user or given else None
    answer = await db.consent(session, meeting.id, key) if key else None
    return await consent_out(session, meeting, key, answer.consent_given if answer else None)
