"""What the webhook routes do, apart from HTTP: endpoints of their owner (a room's endpoint
writes through to the room), the delivery log, and test deliveries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser
from reflector.api.problems import Problem, not_found
from reflector.api.schemas import from_row
from reflector.api.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookOut, WebhookUpdate
from reflector.db import repository
from reflector.db.tables import (
    RoomRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
    new_id,
    utcnow,
)
from reflector.integrations.webhooks.build import test_payload
from reflector.integrations.webhooks.endpoints import (
    ALL_EVENTS,
    mirror_room,
    user_rooms_mirrored,
)
from reflector.integrations.webhooks.netguard import check_url
from reflector.integrations.webhooks.payloads import TEST_EVENT
from reflector.integrations.webhooks.signing import new_secret
from reflector.settings import Settings

SECRET_PREFIX_CHARS = 10


def webhook_out(row: WebhookRow, *, with_secret: bool = False) -> WebhookOut:
    return from_row(
        WebhookOut,
        row,
        secret_prefix=row.secret[:SECRET_PREFIX_CHARS],
        secret=row.secret if with_secret else None,
    )


async def owned_webhook(session: AsyncSession, webhook_id: str, user: CurrentUser) -> WebhookRow:
    """The caller's endpoint; 404 for anyone else's, as for one that does not exist."""
    row = await session.get(WebhookRow, webhook_id)
    if row is None or row.user_id != user.id:
        raise not_found("webhook", webhook_id)
    return row


async def _owned_room(session: AsyncSession, room_id: str, user: CurrentUser) -> RoomRow:
    room = await session.get(RoomRow, room_id)
    if room is None or room.user_id != user.id:
        raise not_found("room", room_id)
    return room


async def create_webhook(
    session: AsyncSession, user: CurrentUser, body: WebhookCreate, settings: Settings
) -> WebhookRow:
    await check_url(body.url, settings.webhook_allow_private_networks)
    await repository.ensure_user(session, user.id)
    secret = body.secret or new_secret()
    events = [e.value for e in body.events] if body.events else ALL_EVENTS
    if body.room_id is not None:
        room = await _owned_room(session, body.room_id, user)
        if room.webhook_url:
            raise Problem(
                409,
                "room-has-webhook",
                f"room {room.name!r} already has a webhook; change it with PATCH",
            )
        room.webhook_url, room.webhook_secret = body.url, secret
        row = await mirror_room(session, room)
        assert row is not None
        row.events, row.description = events, body.description
    else:
        row = WebhookRow(
            user_id=user.id,
            url=body.url,
            secret=secret,
            events=events,
            description=body.description,
        )
        session.add(row)
    await session.commit()
    await session.refresh(row)
    return row


async def list_webhooks(session: AsyncSession, user: CurrentUser) -> list[WebhookRow]:
    await user_rooms_mirrored(session, user.id)  # rooms' webhooks set with the rooms
    await session.commit()
    rows = await session.scalars(
        select(WebhookRow)
        .where(WebhookRow.user_id == user.id)
        .order_by(WebhookRow.created_at, WebhookRow.id)
    )
    return list(rows)


async def update_webhook(
    session: AsyncSession, row: WebhookRow, body: WebhookUpdate, settings: Settings
) -> bool:
    """Apply the changes; whether the secret changed (the answer then shows it)."""
    room = await session.get(RoomRow, row.room_id) if row.room_id else None
    if body.url is not None and body.url != row.url:
        await check_url(body.url, settings.webhook_allow_private_networks)
        row.url = body.url
        if room is not None:
            room.webhook_url = body.url
    secret = new_secret() if body.rotate_secret else body.secret
    if secret is not None:
        row.secret = secret
        if room is not None:
            room.webhook_secret = secret
    if body.events is not None:
        row.events = [e.value for e in body.events]
    if body.description is not None:
        row.description = body.description
    if body.enabled is not None:
        row.enabled = body.enabled
        if body.enabled:
            row.failing_since = row.disabled_at = row.disabled_reason = None
        else:
            row.disabled_at = utcnow()
    await session.commit()
    await session.refresh(row)
    return secret is not None


async def delete_webhook(session: AsyncSession, row: WebhookRow) -> None:
    if row.room_id is not None:
        room = await session.get(RoomRow, row.room_id)
        if room is not None:
            room.webhook_url = room.webhook_secret = None
    await session.delete(row)
    await session.commit()


def _delivery_out(delivery: WebhookDeliveryRow, event: WebhookEventRow) -> DeliveryOut:
    return from_row(
        DeliveryOut,
        delivery,
        event_type=event.type,
        transcript_id=event.transcript_id,
        meeting_id=event.meeting_id,
    )


async def deliveries(
    session: AsyncSession, webhook_id: str, status: str | None, offset: int, limit: int
) -> tuple[list[DeliveryOut], int]:
    """A page of the endpoint's deliveries, newest first, and how many there are."""
    where = [WebhookDeliveryRow.webhook_id == webhook_id]
    if status is not None:
        where.append(WebhookDeliveryRow.status == status)
    total = await session.scalar(select(func.count()).select_from(WebhookDeliveryRow).where(*where))
    rows = await session.execute(
        select(WebhookDeliveryRow, WebhookEventRow)
        .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
        .where(*where)
        .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id)
        .offset(offset)
        .limit(limit)
    )
    return [_delivery_out(d, e) for d, e in rows], int(total or 0)


async def queue_test(session: AsyncSession, row: WebhookRow) -> str:
    """A test event and its delivery to ``row``, claimed for sending now; the delivery id."""
    now = utcnow()
    event_id = new_id()
    event = WebhookEventRow(
        id=event_id, type=TEST_EVENT, payload=test_payload(event_id, row.id, now), created_at=now
    )
    session.add(event)
    await session.flush()  # no relationship orders the two inserts: the event goes first
    delivery = WebhookDeliveryRow(
        webhook_id=row.id,
        event_id=event_id,
        status="sending",
        attempts=1,
        last_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.commit()
    return delivery.id


async def delivery_out(session: AsyncSession, delivery_id: str) -> DeliveryOut:
    delivery = await session.get(WebhookDeliveryRow, delivery_id, populate_existing=True)
    assert delivery is not None
    event = await session.get(WebhookEventRow, delivery.event_id)
    assert event is not None
    return _delivery_out(delivery, event)
