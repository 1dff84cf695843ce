"""Dependencies shared by routers: app state, a database session, the owner's transcript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.auth import CurrentUser, current_user
from reflector.api.problems import not_found
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


async def owned_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser, *, deleted: bool = False
) -> TranscriptRow:
    try:
        return await repository.get_transcript(session, transcript_id, user.id, deleted=deleted)
    except repository.NotFound:
        raise not_found("transcript", transcript_id) from None


async def readable_transcript(
    session: AsyncSession, transcript_id: str, user: CurrentUser
) -> TranscriptRow:
    try:
        return await repository.get_readable_transcript(session, transcript_id, user.id)
    except repository.NotFound:
        raise not_found("transcript", transcript_id) from None


async def transcript_child(
    session: AsyncSession, model: type[Child], child_id: str, transcript_id: str, what: str
) -> Child:
    """A participant, upload, action item … of this transcript; 404 for anyone else's."""
    child = await session.get(model, child_id)
    if child is None or child.transcript_id != transcript_id:  # type: ignore[attr-defined]
        raise not_found(what, child_id)
    return child
