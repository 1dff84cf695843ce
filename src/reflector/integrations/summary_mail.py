"""Summary emails: people ask for one (per meeting or per transcript), and it is sent in the
background once the transcript has ended.

Asking needs a configured SMTP server: without one the request is refused at once (422
``email-not-configured``) and nothing is stored, so nobody waits for a mail that cannot come.
A request for a meeting is answered by the first transcript of that meeting that ends; a request
for a transcript that has already ended is sent right away. Each address gets one mail per
request; a transcript processed again sends nothing more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.db.tables import EmailRequestRow, MeetingRow, TranscriptRow, utcnow
from reflector.errors import BadInputError
from reflector.integrations import outbox
from reflector.integrations.config import smtp_config, transcript_link
from reflector.integrations.digest import load_digest
from reflector.integrations.mail import (
    MailError,
    MailNotConfiguredError,
    check_address,
    compose,
    send,
)
from reflector.settings import Settings

log = structlog.get_logger(__name__)

MAX_REQUESTS = 200
"""Addresses one meeting or transcript may collect (a guard against mass mailing)."""


class TooManyRequestsError(BadInputError):
    status = 429
    problem_type = "too-many-email-requests"


@dataclass(frozen=True)
class Requested:
    request: EmailRequestRow
    queued: bool
    """The transcript has ended already: the mail is on its way now."""


def _for_transcript(transcript: TranscriptRow):
    conditions = [EmailRequestRow.transcript_id == transcript.id]
    if transcript.meeting_id:
        conditions.append(
            (EmailRequestRow.meeting_id == transcript.meeting_id)
            & EmailRequestRow.transcript_id.is_(None)
        )
    return or_(*conditions)


async def _ended_transcript_of_meeting(session: AsyncSession, meeting_id: str) -> str | None:
    return await session.scalar(
        select(TranscriptRow.id)
        .where(
            TranscriptRow.meeting_id == meeting_id,
            TranscriptRow.status == "ended",
            TranscriptRow.deleted_at.is_(None),
        )
        .order_by(TranscriptRow.created_at)
        .limit(1)
    )


async def request_email(
    session: AsyncSession,
    settings: Settings,
    address: str,
    *,
    meeting: MeetingRow | None = None,
    transcript: TranscriptRow | None = None,
) -> Requested:
    """Record that ``address`` wants the summary of ``meeting`` or ``transcript`` (one of
    them); committed. The same address asking twice gets the same request back."""
    if smtp_config(settings) is None:
        raise MailNotConfiguredError()
    email = check_address(address)
    if transcript is not None:
        where = EmailRequestRow.transcript_id == transcript.id
    else:
        assert meeting is not None
        where = EmailRequestRow.meeting_id == meeting.id
    existing = await session.scalar(
        select(EmailRequestRow).where(where, EmailRequestRow.email == email)
    )
    if existing is None:
        count = await session.scalar(select(func.count()).select_from(EmailRequestRow).where(where))
        if int(count or 0) >= MAX_REQUESTS:
            raise TooManyRequestsError(
                f"this {'transcript' if transcript is not None else 'meeting'} already has "
                f"{MAX_REQUESTS} email requests"
            )
        existing = EmailRequestRow(
            meeting_id=meeting.id if meeting is not None else transcript.meeting_id,
            transcript_id=transcript.id if transcript is not None else None,
            email=email,
        )
        session.add(existing)
        await session.commit()
    elif existing.sent_at is None and existing.error is not None:
        existing.error = None  # asked again: try that address once more
        await session.commit()
    ended: str | None = None
    if transcript is not None:
        ended = transcript.id if transcript.status == "ended" else None
    elif meeting is not None:
        ended = await _ended_transcript_of_meeting(session, meeting.id)
    queued = existing.sent_at is None and ended is not None
    if queued:
        assert ended is not None
        await outbox.queue(session, ended, "email")
    return Requested(existing, queued)


async def has_unsent(session: AsyncSession, transcript: TranscriptRow) -> bool:
    found = await session.scalar(
        select(EmailRequestRow.id)
        .where(
            _for_transcript(transcript),
            EmailRequestRow.sent_at.is_(None),
            EmailRequestRow.error.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def send_summaries(
    sessions: async_sessionmaker, settings: Settings, transcript_id: str
) -> int:
    """Mail the transcript's summary to every address still waiting for it; how many were
    sent. An address the server refused for good keeps its error; any other failure raises
    :class:`MailError` after the ones that worked are marked sent, so a retry sends only
    the rest (a server that refuses the login fails the whole batch, whose addresses are
    sent to once it is fixed and the mail asked for again)."""
    config = smtp_config(settings)
    if config is None:
        raise MailError("email is not set up on this server any more", permanent=True)
    async with sessions() as session:
        row = await session.get(TranscriptRow, transcript_id)
        if row is None or row.deleted_at is not None:
            raise MailError("the transcript was deleted before it could be sent", permanent=True)
        digest = await load_digest(session, row, transcript_link(settings, transcript_id))
        requests = (
            await session.scalars(
                select(EmailRequestRow).where(
                    _for_transcript(row),
                    EmailRequestRow.sent_at.is_(None),
                    EmailRequestRow.error.is_(None),
                )
            )
        ).all()
        sent = 0
        failure: MailError | None = None
        for request in requests:
            message = compose(digest, config.sender, request.email)
            try:
                await asyncio.to_thread(send, config, message)
            except MailError as error:
                log.warning("summary_mail_failed", request=request.id, error=str(error))
                if error.recipient and error.permanent:
                    request.error = str(error)  # this address only: the others go on
                    continue
                if error.recipient:
                    failure = error
                    continue
                failure = error  # the server itself: the rest would fail the same way
                break
            request.sent_at = utcnow()
            request.transcript_id = transcript_id
            request.error = None
            sent += 1
        await session.commit()
    if failure is not None:
        raise failure
    return sent
