"""Which endpoints hear of an event, and a room's webhook as an endpoint.

A user's endpoint (``room_id`` ``None``) hears of everything about the user's transcripts and
the meetings of the user's rooms. A room's endpoint is the room's ``webhook_url`` and
``webhook_secret`` (set with the room, or through ``/v1/webhooks``) mirrored into one
:class:`~reflector.db.tables.WebhookRow` per room, so its deliveries are logged, retried and
disabled the same way; the room's columns win when the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import RoomRow, WebhookRow, new_id, utcnow
from reflector.integrations.webhooks.payloads import WebhookEventType
from reflector.integrations.webhooks.signing import new_secret

ALL_EVENTS: list[str] = [event.value for event in WebhookEventType]


async def insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], unique: Sequence[str]
) -> bool:
    """Insert a row unless one with the same ``unique`` columns exists; whether it was
    inserted. Works inside the caller's transaction (no error aborts it)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
    result = await session.execute(statement)
    return result.rowcount == 1  # type: ignore[attr-defined]


async def mirror_room(session: AsyncSession, room: RoomRow) -> WebhookRow | None:
    """The room's endpoint, made or updated from the room's columns; ``None`` (and no row)
    when the room has no webhook. Not committed."""
    row = await session.scalar(select(WebhookRow).where(WebhookRow.room_id == room.id))
    if not room.webhook_url:
        if row is not None:
            await session.delete(row)
        return None
    if not room.webhook_secret:
        room.webhook_secret = new_secret()
    if row is None:
        now = utcnow()
        values = {
            "id": new_id(),
            "user_id": room.user_id,
            "room_id": room.id,
            "url": room.webhook_url,
            "secret": room.webhook_secret,
            "events": ALL_EVENTS,
            "description": f"room {room.name}",
            "enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        # Two events of one room at once: both may try to make the row.
        await insert_ignoring_conflict(session, WebhookRow.__table__, values, ["room_id"])
        return await session.scalar(select(WebhookRow).where(WebhookRow.room_id == room.id))
    if row.url != room.webhook_url:
        # Another receiver: whatever made the old one fail says nothing about it.
        row.url = room.webhook_url
        row.enabled, row.failing_since = True, None
        row.disabled_at = row.disabled_reason = None
    row.secret = room.webhook_secret
    row.user_id = room.user_id
    return row


async def user_rooms_mirrored(session: AsyncSession, user_id: str) -> None:
    """Bring the endpoints of every room of ``user_id`` in line with the rooms (for lists)."""
    rooms = await session.scalars(select(RoomRow).where(RoomRow.user_id == user_id))
    for room in rooms:
        await mirror_room(session, room)


def _subscribed(row: WebhookRow, event_type: str) -> bool:
    return row.enabled and event_type in (row.events or [])


async def subscribed_endpoints(
    session: AsyncSession, user_id: str, room_id: str | None, event_type: str
) -> list[WebhookRow]:
    """The enabled endpoints that want ``event_type`` about something of ``user_id``'s (in
    room ``room_id``, if any)."""
    rows = list(
        await session.scalars(
            select(WebhookRow).where(WebhookRow.user_id == user_id, WebhookRow.room_id.is_(None))
        )
    )
    if room_id is not None:
        room = await session.get(RoomRow, room_id)
        if room is not None:
            endpoint = await mirror_room(session, room)
            if endpoint is not None:
                rows.append(endpoint)
    return [row for row in rows if _subscribed(row, event_type)]
