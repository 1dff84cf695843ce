"""Asking for a summary by email: ``POST /v1/meetings/{id}/email`` (a meeting's participants,
guests included) and ``POST /v1/transcripts/{id}/email`` (whoever may read the transcript).

The mail is sent in the background once the transcript has ended (at once if it has). Without
an SMTP server the request is refused (422 ``email-not-configured``) and nothing is kept.
"""

from __future__ import annotations

from fastapi import APIRouter

from reflector.api.deps import Session, State, User, readable_transcript
from reflector.api.integrations.schemas import EmailRequestIn, EmailRequestOut
from reflector.api.meetings.access import Guest
from reflector.api.schemas import from_row
from reflector.db import rooms as db
from reflector.integrations.summary_mail import Requested, request_email

router = APIRouter(tags=["integrations"])


def _out(requested: Requested) -> EmailRequestOut:
    return from_row(EmailRequestOut, requested.request, queued=requested.queued)


@router.post("/v1/meetings/{meeting_id}/email", status_code=202, response_model=EmailRequestOut)
async def email_meeting_summary(
    meeting_id: str, body: EmailRequestIn, session: Session, state: State, guest: Guest
) -> EmailRequestOut:
    """Mail the meeting's summary and a link to ``email`` when its transcript is ready. 422
    ``invalid-email``, 422 ``email-not-configured``."""
    meeting = await db.meeting(session, meeting_id)
    requested = await request_email(session, state.settings, body.email, meeting=meeting)
    return _out(requested)


@router.post(
    "/v1/transcripts/{transcript_id}/email", status_code=202, response_model=EmailRequestOut
)
async def email_transcript_summary(
    transcript_id: str, body: EmailRequestIn, session: Session, state: State, user: User
) -> EmailRequestOut:
    """Mail the transcript's summary and a link to ``email`` (now if it has ended, else when
    it ends). 422 ``invalid-email``, 422 ``email-not-configured``."""
    row = await readable_transcript(session, transcript_id, user)
    requested = await request_email(session, state.settings, body.email, transcript=row)
    return _out(requested)
