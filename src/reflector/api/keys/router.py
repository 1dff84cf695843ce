"""``/v1/api-keys``: the caller's keys for programs. The key is shown once, at creation; nobody
sees, makes or revokes another user's keys (another user's key id is 404)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from reflector.api.deps import Session, User
from reflector.api.keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from reflector.api.schemas import from_row
from reflector.db import repository
from reflector.db.tables import ApiKey, utcnow

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _out(row: ApiKey) -> ApiKeyOut:
    return from_row(ApiKeyOut, row)


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, session: Session, user: User) -> ApiKeyCreated:
    await repository.ensure_user(session, user.id)
    expires = None
    if body.expires_in_days is not None:
        expires = utcnow() + timedelta(days=body.expires_in_days)
    row, plain = await repository.create_api_key(session, user.id, body.name, expires)
    await session.commit()
    return ApiKeyCreated(**_out(row).model_dump(), key=plain)


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(session: Session, user: User) -> list[ApiKeyOut]:
    return [_out(k) for k in await repository.list_api_keys(session, user.id)]


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, session: Session, user: User) -> Response:
    await repository.revoke_api_key(session, user.id, key_id)  # unknown: 404 not-found
    await session.commit()
    return Response(status_code=204)
