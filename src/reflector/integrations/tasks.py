"""The integrations' periodic work, run by the in-process runner's housekeeping and by a Celery
beat task alike: send the notifications that are due, read the calendars that are due.

Each notification and each calendar is handled on its own: one that fails (a receiver down, a
broken calendar) is recorded as such and never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.blobs import BlobStore
from reflector.integrations import outbox
from reflector.integrations.calendar_sync import due_rooms, sync_room
from reflector.integrations.mail import MailError
from reflector.integrations.summary_mail import send_summaries
from reflector.integrations.zulip import ZulipError, ZulipNotConfiguredError
from reflector.integrations.zulip_posts import post_transcript
from reflector.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Tick:
    """What one round did."""

    notifications: int = 0
    calendars: int = 0


async def deliver(sessions: async_sessionmaker, settings: Settings, due: outbox.Due) -> str:
    """Send one notification; its new status (``sent``, ``pending`` or ``failed``)."""
    try:
        if due.kind == "zulip":
            await post_transcript(sessions, settings, due.transcript_id, due.target or {})
        elif due.kind == "email":
            await send_summaries(sessions, settings, due.transcript_id)
        else:
            return await outbox.finish(
                sessions, due, error=f"unknown kind {due.kind!r}", permanent=True
            )
    except ZulipNotConfiguredError as error:
        return await outbox.finish(sessions, due, error=str(error), permanent=True)
    except (ZulipError, MailError) as error:
        log.warning(
            "notification_failed",
            kind=due.kind,
            transcript=due.transcript_id,
            error=str(error),
            permanent=error.permanent,
        )
        return await outbox.finish(sessions, due, error=str(error), permanent=error.permanent)
    except Exception as error:  # a fault here must not stop the other notifications
        log.exception("notification_error", kind=due.kind, transcript=due.transcript_id)
        return await outbox.finish(sessions, due, error=f"{error.__class__.__name__}: {error}")
    return await outbox.finish(sessions, due)


async def run_due(sessions: async_sessionmaker, blobs: BlobStore, settings: Settings) -> Tick:
    """Send what is due and read the calendars that are due."""
    sent = 0
    for due in await outbox.take_due(sessions):
        await deliver(sessions, settings, due)
        sent += 1
    synced = 0
    for room_id in await due_rooms(sessions):
        try:
            await sync_room(sessions, blobs, settings, room_id)
        except Exception:
            log.exception("calendar_sync_error", room=room_id)
        synced += 1
    return Tick(sent, synced)
