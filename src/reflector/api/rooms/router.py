"""``/v1/rooms``: rooms created, listed, read, changed and deleted.

A room is seen by its owner, by administrators and, when shared, by every signed-in user; only
its owner (or an administrator) changes or deletes it. Anybody else's room behaves as a name
nobody took (404). Opening a room's meeting is in :mod:`reflector.api.meetings.router`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from reflector.api.deps import Session, State, User
from reflector.api.rooms import service
from reflector.api.rooms.schemas import RoomCreate, RoomOut, RoomPatch
from reflector.api.schemas import Page, page_of
from reflector.db import rooms as db

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])


@router.post("", status_code=201, response_model=RoomOut)
async def create_room(body: RoomCreate, session: Session, user: User, state: State) -> RoomOut:
    """A new room owned by the caller; 409 ``room-name-taken`` when the name is in use, 422
    ``unsafe-webhook-url`` for a webhook this server may not call."""
    await service.check_webhook_url(body.webhook_url, state.settings)
    return service.room_out(await service.create_room(session, user, body), user)


@router.get("", response_model=Page[RoomOut])
async def list_rooms(
    session: Session,
    user: User,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RoomOut]:
    """The caller's rooms and the shared ones, by name."""
    rows, total = await db.list_rooms(session, user.id, user.is_admin, (page - 1) * size, size)
    return page_of(RoomOut, [service.room_out(r, user) for r in rows], total, page, size)


@router.get("/{name}", response_model=RoomOut)
async def get_room(name: str, session: Session, user: User) -> RoomOut:
    return service.room_out(await db.visible_room(session, name, user.id, user.is_admin), user)


@router.patch("/{name}", response_model=RoomOut)
async def patch_room(
    name: str, body: RoomPatch, session: Session, user: User, state: State
) -> RoomOut:
    """Change the fields sent; meetings opened later use the new settings."""
    row = await service.managed_room(session, name, user)
    await service.check_webhook_url(body.webhook_url, state.settings)
    await service.change_room(session, row, body.model_dump(exclude_unset=True))
    return service.room_out(row, user)


@router.delete("/{name}", status_code=204)
async def delete_room(name: str, session: Session, user: User) -> Response:
    """The room and its meetings; the transcripts recorded in it stay."""
    await service.delete_room(session, await service.managed_room(session, name, user))
    return Response(status_code=204)
