"""``/v1/me`` (who is calling) and ``/v1/users`` (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter

from reflector.api.accounts.schemas import MeOut, UserOut
from reflector.api.deps import Admin, Session, User
from reflector.api.problems import Problem, not_found
from reflector.api.schemas import from_row
from reflector.db import accounts
from reflector.db.tables import User as UserRow

router = APIRouter(prefix="/v1", tags=["accounts"])


def _user_out(row: UserRow) -> UserOut:
    return from_row(UserOut, row)


@router.get("/me", response_model=MeOut)
async def me(session: Session, user: User) -> MeOut:
    row = await accounts.ensure_user(session, user.id)
    await session.commit()
    # ``is_admin`` as the caller holds it: the local user owns a single-user server.
    return from_row(MeOut, row, is_admin=user.is_admin)


@router.get("/users", response_model=list[UserOut])
async def list_users(session: Session, admin: Admin) -> list[UserOut]:
    return [_user_out(row) for row in await accounts.list_users(session)]


@router.post("/users/{user_id}/disable", response_model=UserOut)
async def disable_user(user_id: str, session: Session, admin: Admin) -> UserOut:
    """Disable a user: their keys and sessions stop working at once."""
    row = await session.get(UserRow, user_id)
    if row is None:
        raise not_found("user", user_id)
    if row.id == admin.id:
        raise Problem(409, "cannot-disable-self", "administrators cannot disable themselves")
    await accounts.disable_user(session, row)
    await session.commit()
    return _user_out(row)
