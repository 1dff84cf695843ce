"""Who may read a transcript: the one rule that every route, the list and search apply.

* Its **owner** reads and changes it.
* ``public``: anyone with its link reads it, signed in or not.
* ``semi-private``: any signed-in user with its link reads it.
* Recorded in a **shared room** (``rooms.is_shared``): every signed-in user reads it, whatever
  its own share mode: sharing a room shares what is recorded in it.
* Anyone else: it does not exist for them, exactly like an id that was never made.

Reading is read-only: only the owner changes, deletes, uploads to or records into a
transcript. Administrators have no special access to other people's transcripts.

A transcript shows in a user's list and search when they own it, or when it is *shared with
them*: recorded in a shared room, or opened through its link while it was ``semi-private`` or
``public`` (remembered in ``transcript_shares``). Making it ``private`` again takes it out of
those lists at once; nobody else's private transcript ever shows.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import RoomRow, TranscriptRow, TranscriptShareRow

Access = Literal["owner", "shared"]
"""How a caller reads a transcript: as its owner, or because it is shared with them."""
LINK_MODES = ("semi-private", "public")
"""Share modes in which a transcript's link works for other users."""
Scope = Literal["all", "mine", "shared"]
"""Which transcripts a list shows: the caller's and those shared with them, or one of both."""


async def room_is_shared(session: AsyncSession, room_id: str | None) -> bool:
    if room_id is None:
        return False
    return bool(await session.scalar(select(RoomRow.is_shared).where(RoomRow.id == room_id)))


async def access_to(
    session: AsyncSession, row: TranscriptRow, user_id: str | None
) -> Access | None:
    """How ``user_id`` (``None``: somebody who is not signed in) may read ``row``; ``None``:
    not at all. Deleted transcripts are left to the caller (only their owner sees the trash)."""
    if user_id is not None and row.user_id == user_id:
        return "owner"
    if row.share_mode == "public":
        return "shared"
    if user_id is None:
        return None
    if row.share_mode == "semi-private" or await room_is_shared(session, row.room_id):
        return "shared"
    return None


def _in_shared_room() -> ColumnElement[bool]:
    return exists().where(RoomRow.id == TranscriptRow.room_id, RoomRow.is_shared.is_(True))


def shared_with(user_id: str) -> ColumnElement[bool]:
    """SQL over ``TranscriptRow``: transcripts of others that are shared with ``user_id``."""
    opened = exists().where(
        TranscriptShareRow.transcript_id == TranscriptRow.id,
        TranscriptShareRow.user_id == user_id,
    )
    return and_(
        TranscriptRow.user_id != user_id,
        or_(_in_shared_room(), and_(TranscriptRow.share_mode.in_(LINK_MODES), opened)),
    )


def listed_for(user_id: str, scope: Scope = "all") -> ColumnElement[bool]:
    """SQL over ``TranscriptRow``: what a list or search of ``user_id`` may show."""
    mine = TranscriptRow.user_id == user_id
    if scope == "mine":
        return mine
    if scope == "shared":
        return shared_with(user_id)
    return or_(mine, shared_with(user_id))


def listed_parts(user_id: str, scope: Scope = "all") -> list[ColumnElement[bool]]:
    """:func:`listed_for` as disjoint conditions (no transcript meets two), each of which a
    database answers from an index: the caller's own (by owner), those in shared rooms (by
    room), and those opened through their link (by the caller's ``transcript_shares``).

    A list runs one query per part and merges them: one condition with an ``OR`` of all three
    makes both databases read every transcript of every user to count and sort a page.
    """
    mine = TranscriptRow.user_id == user_id
    shared_rooms = select(RoomRow.id).where(RoomRow.is_shared.is_(True))
    opened = select(TranscriptShareRow.transcript_id).where(TranscriptShareRow.user_id == user_id)
    in_room = and_(TranscriptRow.user_id != user_id, TranscriptRow.room_id.in_(shared_rooms))
    by_link = and_(
        TranscriptRow.user_id != user_id,
        TranscriptRow.id.in_(opened),
        TranscriptRow.share_mode.in_(LINK_MODES),
        ~_in_shared_room(),  # already in ``in_room``
    )
    if scope == "mine":
        return [mine]
    if scope == "shared":
        return [in_room, by_link]
    return [mine, in_room, by_link]


SHARED_WITH_SQL = (
    "(t.user_id <> :user AND ("
    "EXISTS (SELECT 1 FROM rooms r WHERE r.id = t.room_id AND r.is_shared = :shared_room)"
    " OR (t.share_mode IN ('semi-private', 'public') AND EXISTS (SELECT 1 FROM transcript_shares"
    " s WHERE s.transcript_id = t.id AND s.user_id = :user))))"
)
""":func:`shared_with` for hand-written SQL over ``transcripts t`` (full-text search); its
parameters: ``user`` and ``shared_room`` (``True``), see :func:`shared_sql_params`."""


def shared_sql_params(user_id: str) -> dict[str, object]:
    return {"user": user_id, "shared_room": True}


async def remember_opened(session: AsyncSession, row: TranscriptRow, user_id: str) -> bool:
    """Note that ``user_id`` opened ``row`` through its link (not committed), so it shows in
    their list; only while the link works for them, and never for its owner. Whether it was
    new (then there is something to commit)."""
    if row.user_id == user_id or row.share_mode not in LINK_MODES:
        return False
    values = {"transcript_id": row.id, "user_id": user_id}
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    seen = await session.scalar(
        select(TranscriptShareRow.user_id).where(
            TranscriptShareRow.transcript_id == row.id, TranscriptShareRow.user_id == user_id
        )
    )
    if seen is not None:
        return False
    # Two first opens at once: the second one's insert does nothing.
    await session.execute(
        dialect_insert(TranscriptShareRow).values(**values).on_conflict_do_nothing()
    )
    return True


__all__ = [
    "LINK_MODES",
    "SHARED_WITH_SQL",
    "Access",
    "Scope",
    "access_to",
    "listed_for",
    "listed_parts",
    "remember_opened",
    "room_is_shared",
    "shared_sql_params",
    "shared_with",
]
