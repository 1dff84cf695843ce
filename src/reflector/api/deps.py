"""Dependencies shared by routers: app state, a database session, the owner's transcript, and
the same checks for WebSockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser, current_user
from reflector.api.problems import Problem, not_found
from reflector.api.state import AppState
from reflector.db import repository
from reflector.db.tables import TranscriptRow

Child = TypeVar("Child")


def app_state(request: Request) -> AppState:
    return request.app.state.reflector


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).sessions() as session:
        yield session


State = Annotated[AppState, Depends(app_state)]
Session = Annotated[AsyncSession, Depends(db_session)]
User = Annotated[CurrentUser, Depends(current_user)]


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


async def owned_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser, *, deleted: bool = False
) -> TranscriptRow:
    return await repository.get_transcript(session, transcript_id, user.id, deleted=deleted)


async def readable_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser
) -> TranscriptRow:
    return await repository.get_readable_transcript(session, transcript_id, user.id)


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
    """Accept the socket if its user may read the transcript; else close it (1008), False."""
    state = websocket_state(websocket)
    user = await authenticate_websocket(websocket)
    if user is None:
        return False
    async with state.sessions() as session:
        try:
            await repository.get_readable_transcript(session, transcript_id, user.id)
        except repository.NotFound:
            await websocket.close(code=POLICY_VIOLATION, reason="transcript not found")
            return False
    await websocket.accept()
    return True
