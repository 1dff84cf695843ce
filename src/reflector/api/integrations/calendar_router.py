"""``/v1/rooms/{name}/ics``: a room's calendar read now, and how its last reading went.

A calendar that cannot be read is not an error of the request: the answer (and the room's
``ics_status``) says in words what went wrong, and no meeting changes.
"""

from __future__ import annotations

from fastapi import APIRouter

from reflector.api.deps import Session, State, User
from reflector.api.integrations.schemas import CalendarStatusOut, CalendarSyncOut
from reflector.api.problems import Problem
from reflector.api.rooms.service import managed_room
from reflector.db import rooms as db
from reflector.db.tables import RoomRow, as_utc
from reflector.integrations.calendar_sync import next_sync, sync_room

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])


def _status(room: RoomRow) -> CalendarStatusOut:
    return CalendarStatusOut(
        enabled=room.ics_enabled,
        url_set=bool(room.ics_url),
        status=room.ics_status,
        last_sync=as_utc(room.ics_last_sync) if room.ics_last_sync else None,
        next_sync=next_sync(room),
        events_found=room.ics_events_found,
        fetch_interval=room.ics_fetch_interval,
    )


@router.get("/{name}/ics/status", response_model=CalendarStatusOut)
async def calendar_status(name: str, session: Session, user: User) -> CalendarStatusOut:
    """When the room's calendar was read, what came of it, and when it is read next."""
    room = await db.visible_room(session, name, user.id, user.is_admin)
    return _status(room)


@router.post("/{name}/ics/sync", response_model=CalendarSyncOut)
async def calendar_sync(name: str, session: Session, state: State, user: User) -> CalendarSyncOut:
    """Read the room's calendar now (its owner only) and bring its upcoming meetings in step.
    409 ``calendar-not-set`` when the room has no calendar URL or its calendar is off."""
    room = await managed_room(session, name, user)
    if not room.ics_url or not room.ics_enabled:
        raise Problem(
            409,
            "calendar-not-set",
            "the room's calendar is not on: set its ics_url and ics_enabled: true first",
        )
    result = await sync_room(state.sessions, state.blobs, state.settings, room.id)
    await session.refresh(room)
    return CalendarSyncOut(
        **_status(room).model_dump(),
        ok=result.ok,
        created=result.created,
        updated=result.updated,
        cancelled=result.cancelled,
        not_modified=result.not_modified,
    )
