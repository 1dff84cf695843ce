"""Dependencies shared by routers: app state, a database session, the caller, access to a
transcript (the rule is :mod:`reflector.db.sharing`: every route goes through
:func:`readable_transcript` or :func:`owned_transcript`), and the same checks for WebSockets."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import (
    CurrentUser,
    authentication_required,
    current_user,
    optional_user,
    request_session,
)
from reflector.api.problems import Problem, not_found
from reflector.api.state import AppState
from reflector.db import repository
from reflector.db.sharing import Access, access_to
from reflector.db.tables import TranscriptRow

Child = TypeVar("Child")


def app_state(request: Request) -> AppState:
    return request.app.state.reflector


db_session = request_session
"""The request's database session, the same one the caller was looked up with."""


State = Annotated[AppState, Depends(app_state)]
Session = Annotated[AsyncSession, Depends(db_session)]
User = Annotated[CurrentUser, Depends(current_user)]
Reader = Annotated[CurrentUser | None, Depends(optional_user)]
"""The caller of a route that reads a transcript: ``None`` for somebody not signed in, who may
read public transcripts only."""


def require_admin(user: User) -> CurrentUser:
    """The caller, if an administrator; 403 ``admin-only`` for anyone else."""
    if not user.is_admin:
        raise Problem(403, "admin-only", "only an administrator may do this")
    return user


Admin = Annotated[CurrentUser, Depends(require_admin)]


def ensure_unlocked(row: TranscriptRow) -> None:
    """423 ``locked`` while the transcript is locked against changes."""
    if row.locked:
        raise Problem(423, "locked", "the transcript is locked; unlock it first (locked: false)")


# A missing transcript raises ``repository.NotFound``, which the problem handlers answer with
# 404 ``not-found`` and its message ("transcript 'id' does not exist").


async def transcript_access(
    session: AsyncSession, transcript_id: str, user: CurrentUser | None
) -> tuple[TranscriptRow, Access]:
    """The transcript and how the caller reads it. A transcript they may not read does not
    exist for them (404), except that somebody not signed in is asked to sign in (401, the
    same whether it exists or not)."""
    row = await session.get(TranscriptRow, transcript_id)
    access = None
    if row is not None and row.deleted_at is None:
        access = await access_to(session, row, user.id if user else None)
    if access is None:
        if user is None:
            raise authentication_required()
        raise repository.NotFound(transcript_id)
    return row, access  # type: ignore[return-value]


async def readable_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser | None
) -> TranscriptRow:
    """The transcript if the caller may read it (its owner, or shared with them)."""
    return (await transcript_access(session, transcript_id, user))[0]


async def owned_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser, *, deleted: bool = False
) -> TranscriptRow:
    """The caller's own transcript (in the trash with ``deleted``), for changing it. Somebody
    it is shared with gets 403 ``not-owner`` (they can see it, so a 404 would be a lie);
    anybody else 404."""
    try:
        return await repository.get_transcript(session, transcript_id, user.id, deleted=deleted)
    except repository.NotFound:
        row = None if deleted else await session.get(TranscriptRow, transcript_id)
        if (
            row is not None
            and row.deleted_at is None
            and await access_to(session, row, user.id) is not None
        ):
            raise Problem(
                403, "not-owner", "only the owner of this transcript may change it"
            ) from None
        raise


async def transcript_child(
    session: AsyncSession, model: type[Child], child_id: str, transcript_id: str, what: str
) -> Child:
    """A participant, upload, action item … of this transcript; 404 for anyone else's."""
    child = await session.get(model, child_id)
    if child is None or child.transcript_id != transcript_id:  # type: ignore[attr-defined]
        raise not_found(what, child_id)
    return child


POLICY_VIOLATION = 1008
"""The WebSocket close code for a client that may not do what it asked."""


def websocket_state(websocket: WebSocket) -> AppState:
    return websocket.app.state.reflector


async def authenticate_websocket(websocket: WebSocket) -> CurrentUser | None:
    """The socket's user; ``None`` after closing it (1008) when it has no valid credentials."""
    try:
        return await current_user(websocket)  # type: ignore[arg-type]
    except Problem as problem:
        await websocket.close(code=POLICY_VIOLATION, reason=problem.detail[:120])
        return None


async def accept_reader(websocket: WebSocket, transcript_id: str) -> bool:
    """Accept the socket if its caller may read the transcript (somebody not signed in: a
    public one); else close it (1008) and answer False."""
    state = websocket_state(websocket)
    try:
        user = await optional_user(websocket)  # type: ignore[arg-type]
        async with state.sessions() as session:
            await readable_transcript(session, transcript_id, user)
    except Problem as problem:
        await websocket.close(code=POLICY_VIOLATION, reason=problem.detail[:120])
        return False
    except repository.NotFound:
        await websocket.close(code=POLICY_VIOLATION, reason="transcript not found")
        return False
    await websocket.accept()
    return True
