"""``/v1/api-keys``: keys for programs. The key is shown once, at creation."""

from __future__ import annotations

from fastapi import APIRouter, Response

from reflector.api.deps import Session, User
from reflector.api.problems import not_found
from reflector.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from reflector.db import repository

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _out(row) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, session: Session, user: User) -> ApiKeyCreated:
    await repository.ensure_user(session, user.id)
    row, plain = await repository.create_api_key(session, user.id, body.name)
    await session.commit()
    return ApiKeyCreated(**_out(row).model_dump(), key=plain)


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(session: Session, user: User) -> list[ApiKeyOut]:
    return [_out(k) for k in await repository.list_api_keys(session, user.id)]


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, session: Session, user: User) -> Response:
    try:
        await repository.revoke_api_key(session, user.id, key_id)
    except repository.NotFound:
        raise not_found("API key", key_id) from None
    await session.commit()
    return Response(status_code=204)
