"""What the room routes do, apart from HTTP: rooms created, changed and deleted by their
owner, rows turned into response bodies."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser
from reflector.api.problems import Problem
from reflector.api.rooms.schemas import RoomBrief, RoomCreate, RoomOut
from reflector.api.schemas import from_row
from reflector.db import repository
from reflector.db import rooms as db
from reflector.db.tables import RoomRow
from reflector.integrations.webhooks.netguard import check_url
from reflector.settings import Settings

_NOT_NULL = {
    "name",
    "is_shared",
    "is_locked",
    "room_mode",
    "recording_type",
    "recording_trigger",
    "platform",
    "skip_consent",
    "zulip_auto_post",
    "ics_enabled",
    "ics_fetch_interval",
}
_OWNER_ONLY = ("webhook_url", "webhook_secret", "ics_url")


def room_out(row: RoomRow, user: CurrentUser | None) -> RoomOut:
    manager = db.can_manage(row, user.id if user else None, bool(user and user.is_admin))
    hidden = {} if manager else dict.fromkeys(_OWNER_ONLY)
    return from_row(RoomOut, row, is_owner=manager, **hidden)


def room_brief(row: RoomRow) -> RoomBrief:
    return from_row(RoomBrief, row)


async def check_webhook_url(url: str | None, settings: Settings) -> None:
    """Refuse, when it is set, a room webhook that points at this server's own network (the
    sender refuses it again at send time, after resolving the name)."""
    if url:
        await check_url(url, settings.webhook_allow_private_networks)


async def create_room(session: AsyncSession, user: CurrentUser, body: RoomCreate) -> RoomRow:
    await repository.ensure_user(session, user.id)
    return await db.add_room(session, RoomRow(user_id=user.id, **body.model_dump()))


async def managed_room(session: AsyncSession, name: str, user: CurrentUser) -> RoomRow:
    """The room if the caller may change it: 404 if they cannot see it, 403 if they see it
    (shared) but do not own it."""
    row = await db.visible_room(session, name, user.id, user.is_admin)
    if not db.can_manage(row, user.id, user.is_admin):
        raise Problem(403, "not-room-owner", "only the room's owner may change or delete it")
    return row


async def change_room(session: AsyncSession, row: RoomRow, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Problem(422, "validation-error", f"{field} cannot be null")
        setattr(row, field, value)
    if "ics_url" in changes:
        # A new calendar is read at the next sync round, not after a whole interval, and
        # nothing said about the old one is shown for it.
        row.ics_last_sync = row.ics_etag = row.ics_last_modified = row.ics_status = None
        row.ics_events_found = 0
    await db.save_room(session, row)


async def delete_room(session: AsyncSession, row: RoomRow) -> None:
    """The room and its meetings go; its transcripts stay with their owner."""
    await session.delete(row)
    await session.commit()
