"""Notifications waiting to be sent: queued when a transcript settles, sent in the background.

One row per transcript and kind (``zulip``, ``email``). Queueing again (a reprocessed
transcript, a new email request) makes it pending once more. A sender *takes* a due row with
one conditional UPDATE that moves its ``next_attempt_at`` past the try, so two senders (two
servers, two workers) never send the same row at once, and a sender that died leaves it to the
next one after :data:`TAKE_SECONDS`. A failed try is retried with growing waits, up to
:data:`MAX_ATTEMPTS`; an error that no retry can fix (wrong credentials, a stream that does not
exist) gives up at once. The last error stays on the row, in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.db.tables import NotificationRow, utcnow

Kind = Literal["zulip", "email"]

TAKE_SECONDS = 300.0
"""How long a taken row is left to its sender before another may try it."""
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
MAX_ATTEMPTS = 8
"""Tries before giving up (about two hours of waiting in all)."""


@dataclass(frozen=True)
class Due:
    """A notification a sender took."""

    id: str
    transcript_id: str
    kind: str
    target: dict[str, Any] | None
    attempts: int


async def queue(
    session: AsyncSession, transcript_id: str, kind: Kind, target: dict[str, Any] | None = None
) -> None:
    """Make the transcript's ``kind`` notification pending now (committed)."""
    values: dict[str, Any] = {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "error": None,
        "target": target,
    }
    for _ in range(2):
        existing = await session.scalar(
            select(NotificationRow).where(
                NotificationRow.transcript_id == transcript_id, NotificationRow.kind == kind
            )
        )
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            await session.commit()
            return
        session.add(NotificationRow(transcript_id=transcript_id, kind=kind, **values))
        try:
            await session.commit()
            return
        except IntegrityError:  # queued by someone else at the same moment: update theirs
            await session.rollback()
    raise RuntimeError(f"could not queue the {kind} notification of {transcript_id}")


async def take_due(sessions: async_sessionmaker, limit: int = 20) -> list[Due]:
    """Due notifications, each taken for this sender alone."""
    now = utcnow()
    taken: list[Due] = []
    async with sessions() as session:
        candidates = (
            await session.scalars(
                select(NotificationRow.id)
                .where(NotificationRow.status == "pending", NotificationRow.next_attempt_at <= now)
                .order_by(NotificationRow.next_attempt_at)
                .limit(limit)
            )
        ).all()
        for notification_id in candidates:
            result = await session.execute(
                update(NotificationRow)
                .where(
                    NotificationRow.id == notification_id,
                    NotificationRow.status == "pending",
                    NotificationRow.next_attempt_at <= now,
                )
                .values(
                    next_attempt_at=now + timedelta(seconds=TAKE_SECONDS),
                    attempts=NotificationRow.attempts + 1,
                )
            )
            if result.rowcount == 1:
                row = await session.get(NotificationRow, notification_id)
                assert row is not None
                await session.refresh(row)
                taken.append(
                    Due(row.id, row.transcript_id, row.kind, row.target, int(row.attempts))
                )
        await session.commit()
    return taken


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min … 1 h."""
    return min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


async def finish(
    sessions: async_sessionmaker,
    due: Due,
    *,
    error: str | None = None,
    permanent: bool = False,
) -> str:
    """Record how a try went (no ``error``: sent); returns the new status."""
    now = utcnow()
    values: dict[str, Any]
    if error is None:
        values = {"status": "sent", "sent_at": now, "error": None}
    elif permanent or due.attempts >= MAX_ATTEMPTS:
        values = {"status": "failed", "error": error}
    else:
        delay = timedelta(seconds=retry_delay(due.attempts))
        values = {"status": "pending", "error": error, "next_attempt_at": now + delay}
    async with sessions() as session:
        # Only the try that took it: a transcript queued again meanwhile starts afresh.
        await session.execute(
            update(NotificationRow)
            .where(NotificationRow.id == due.id, NotificationRow.attempts == due.attempts)
            .values(**values)
        )
        await session.commit()
    return str(values["status"])


async def notifications(session: AsyncSession, transcript_id: str) -> Sequence[NotificationRow]:
    rows = await session.scalars(
        select(NotificationRow)
        .where(NotificationRow.transcript_id == transcript_id)
        .order_by(NotificationRow.kind)
    )
    return rows.all()
