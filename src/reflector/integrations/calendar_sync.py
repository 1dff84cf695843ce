"""Keeping a room's meetings in step with its calendar (ICS).

Every ``ics_fetch_interval`` seconds (or when asked), the room's calendar is fetched with a
conditional GET (``If-None-Match``/``If-Modified-Since`` from the last answer; on ``304`` the
copy kept in the blob store is read again, since the window below moves with time even when the
file does not). Its events from an hour ago to a day ahead that link to the room become the
room's upcoming meetings: created ahead of time (no platform meeting yet), updated when the
event changes, and deleted when the event is cancelled or disappears, as long as nobody has
opened them on the platform. Meetings that already happened are left alone.

The outcome is kept on the room, in words: ``ics_status`` (``ok``, or why the calendar could not
be read), ``ics_last_sync``, ``ics_events_found``. A calendar that cannot be read changes no
meeting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.blobs import BlobStore
from reflector.db.tables import MeetingRow, RoomRow, as_utc, utcnow
from reflector.errors import BadInputError
from reflector.integrations.calendar import (
    CalendarError,
    CalendarEvent,
    events_between,
    parse_calendar,
    room_matcher,
)
from reflector.integrations.config import calendar_limits
from reflector.integrations.outbound import BlockedAddressError, OutboundError, fetch
from reflector.settings import Settings

log = structlog.get_logger(__name__)

WINDOW_BEFORE = timedelta(hours=1)
WINDOW_AFTER = timedelta(hours=24)
OK = "ok"


class CalendarNotSetError(BadInputError):
    status = 409
    problem_type = "calendar-not-set"


@dataclass(frozen=True)
class SyncResult:
    ok: bool
    status: str
    """``ok``, or why the calendar could not be read, in words."""
    events_found: int = 0
    """Events of the window that link to the room."""
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    not_modified: bool = False
    """The server answered 304: the kept copy was read again."""


def next_sync(room: RoomRow, now: datetime | None = None) -> datetime | None:
    """When the room's calendar is read next; ``None`` when it is not read at all."""
    if not room.ics_enabled or not room.ics_url:
        return None
    if room.ics_last_sync is None:
        return now or utcnow()
    return as_utc(room.ics_last_sync) + timedelta(seconds=room.ics_fetch_interval)


def _cache_key(room: RoomRow) -> str:
    digest = hashlib.sha256((room.ics_url or "").encode()).hexdigest()[:16]
    return f"calendars/{room.id}/{digest}.ics"


async def due_rooms(sessions: async_sessionmaker, now: datetime | None = None) -> list[str]:
    """Rooms whose calendar is due, each claimed (its ``ics_last_sync`` set to now) so that
    two servers or workers do not read the same calendar at once."""
    now = now or utcnow()
    claimed: list[str] = []
    async with sessions() as session:
        rows = (
            await session.execute(
                select(RoomRow.id, RoomRow.ics_last_sync, RoomRow.ics_fetch_interval).where(
                    RoomRow.ics_enabled.is_(True), RoomRow.ics_url.is_not(None)
                )
            )
        ).all()
        for room_id, last_sync, interval in rows:
            cutoff = now - timedelta(seconds=interval)
            if last_sync is not None and as_utc(last_sync) > cutoff:
                continue
            result = await session.execute(
                update(RoomRow)
                .where(
                    RoomRow.id == room_id,
                    or_(RoomRow.ics_last_sync.is_(None), RoomRow.ics_last_sync <= cutoff),
                )
                .values(ics_last_sync=now)
            )
            if result.rowcount == 1:
                claimed.append(room_id)
        await session.commit()
    return claimed


@dataclass(frozen=True)
class _Fetched:
    body: bytes
    not_modified: bool
    etag: str | None = None
    last_modified: str | None = None


async def _fetch(room: RoomRow, blobs: BlobStore, settings: Settings) -> _Fetched:
    """The calendar's text, conditionally: on 304 the copy kept from the last answer."""
    key = _cache_key(room)
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if await blobs.stat(key) is not None:
        if room.ics_etag:
            headers["If-None-Match"] = room.ics_etag
        if room.ics_last_modified:
            headers["If-Modified-Since"] = room.ics_last_modified
    result = await fetch(room.ics_url or "", headers, calendar_limits(settings))
    if result.status == 304:
        return _Fetched(await blobs.get_bytes(key), True)
    etag = result.headers.get("etag")
    modified = result.headers.get("last-modified")
    return _Fetched(result.body, False, etag and etag[:500], modified and modified[:100])


async def _keep_copy(blobs: BlobStore, room: RoomRow, body: bytes) -> None:
    """Keep the calendar as last read (one copy per room: an older URL's goes)."""
    await blobs.delete_prefix(f"calendars/{room.id}/")
    await blobs.put_bytes(_cache_key(room), body, "text/calendar")


def _same(meeting: MeetingRow, event: CalendarEvent) -> bool:
    return (
        as_utc(meeting.start_date) == event.start
        and meeting.end_date is not None
        and as_utc(meeting.end_date) == event.end
        and meeting.calendar_data == event.calendar_data()
    )


async def _apply(
    session: AsyncSession, room: RoomRow, events: list[CalendarEvent], now: datetime
) -> tuple[int, int, int]:
    """Create, update and delete the room's calendar meetings; (created, updated, cancelled)."""
    window_start = now - WINDOW_BEFORE
    existing = (
        await session.scalars(
            select(MeetingRow).where(
                MeetingRow.room_id == room.id,
                MeetingRow.calendar_event_id.is_not(None),
                or_(MeetingRow.end_date.is_(None), MeetingRow.end_date > window_start),
            )
        )
    ).all()
    by_key = {meeting.calendar_event_id: meeting for meeting in existing}
    created = updated = cancelled = 0
    for event in events:
        meeting = by_key.pop(event.key, None)
        if meeting is None:
            if event.end <= now:
                continue  # over already: not an upcoming meeting
            session.add(
                MeetingRow(
                    room_id=room.id,
                    platform=room.platform,
                    platform_meeting_id=None,
                    start_date=event.start,
                    end_date=event.end,
                    is_active=True,
                    room_mode=room.room_mode,
                    recording_type=room.recording_type,
                    recording_trigger=room.recording_trigger,
                    calendar_event_id=event.key,
                    calendar_data=event.calendar_data(),
                )
            )
            created += 1
        elif not _same(meeting, event):
            if meeting.platform_meeting_id is None:
                meeting.start_date, meeting.end_date = event.start, event.end
            meeting.calendar_data = event.calendar_data()
            updated += 1
    for meeting in by_key.values():
        opened = meeting.platform_meeting_id is not None
        over = meeting.end_date is not None and as_utc(meeting.end_date) <= now
        if not opened and not over:
            await session.delete(meeting)
            cancelled += 1
    return created, updated, cancelled


async def _record(sessions: async_sessionmaker, room_id: str, now: datetime, **values: Any) -> None:
    async with sessions() as session:
        await session.execute(
            update(RoomRow).where(RoomRow.id == room_id).values(ics_last_sync=now, **values)
        )
        await session.commit()


async def sync_room(
    sessions: async_sessionmaker,
    blobs: BlobStore,
    settings: Settings,
    room_id: str,
    now: datetime | None = None,
) -> SyncResult:
    """Read the room's calendar now and bring its meetings in step; the outcome is also
    stored on the room. Never raises for a calendar problem: the result says it in words."""
    now = now or utcnow()
    async with sessions() as session:
        room = await session.get(RoomRow, room_id)
        if room is None or not room.ics_url:
            raise CalendarNotSetError("the room has no calendar URL (ics_url)")
        session.expunge(room)
    try:
        fetched = await _fetch(room, blobs, settings)
        calendar = parse_calendar(fetched.body)
        events = events_between(calendar, now - WINDOW_BEFORE, now + WINDOW_AFTER)
    except (OutboundError, CalendarError) as error:
        words = str(error)
        status = f"the calendar could not be read: {words}"
        if isinstance(error, OutboundError):
            status = f"the calendar could not be fetched: {words}"
        if isinstance(error, BlockedAddressError):
            status += " (REFLECTOR_ICS_ALLOW_PRIVATE_NETWORKS allows a calendar server there)"
        log.info("calendar_sync_failed", room=room_id, reason=words)
        await _record(sessions, room_id, now, ics_status=status)
        return SyncResult(ok=False, status=status)
    matches = room_matcher(room.name, settings.resolved_public_url())
    mine = [event for event in events if matches(event)]
    for attempt in range(2):
        try:
            async with sessions() as session:
                created, updated, cancelled = await _apply(session, room, mine, now)
                await session.commit()
            break
        except IntegrityError:
            # Another sync of the same room (the periodic one and a "sync now") created a
            # meeting first: read the meetings again.
            if attempt:
                raise
    values: dict[str, Any] = {"ics_status": OK, "ics_events_found": len(mine)}
    if not fetched.not_modified:
        await _keep_copy(blobs, room, fetched.body)
        values["ics_etag"], values["ics_last_modified"] = fetched.etag, fetched.last_modified
    await _record(sessions, room_id, now, **values)
    log.info(
        "calendar_synced",
        room=room_id,
        events=len(mine),
        created=created,
        updated=updated,
        cancelled=cancelled,
    )
    return SyncResult(True, OK, len(mine), created, updated, cancelled, fetched.not_modified)
