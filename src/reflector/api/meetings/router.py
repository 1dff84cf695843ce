"""Meetings: ``POST /v1/rooms/{name}/meeting`` opens a room, ``/v1/meetings/{id}/…`` joins,
ends, records and takes each participant's consent.

Opening and joining work for guests without an account (the room's address is the
invitation); they join without a platform token. Listing, ending and recording need a
signed-in user, as the room's rules say.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reflector.api.deps import Session, State, User
from reflector.api.meetings import service
from reflector.api.meetings.access import Guest
from reflector.api.meetings.schemas import (
    PARTICIPANT_KEY_PATTERN,
    ConsentIn,
    ConsentOut,
    MeetingJoinOut,
    MeetingOut,
    MeetingsOut,
    RecordingStart,
    RecordingStarted,
)

router = APIRouter(tags=["meetings"])


@router.post("/v1/rooms/{name}/meeting", response_model=MeetingJoinOut)
async def open_meeting(name: str, session: Session, state: State, user: Guest) -> MeetingJoinOut:
    """The room's running meeting (or a new one on its platform) and how the caller joins it:
    a meeting token for a signed-in user, with the owner flag for the room's owner. Two
    people opening the room at once get the same meeting."""
    return await service.open_meeting(state, session, name, user)


@router.get("/v1/rooms/{name}/meetings", response_model=MeetingsOut)
async def list_meetings(name: str, session: Session, user: User) -> MeetingsOut:
    """The room's running meetings and those made ahead of time."""
    return await service.list_meetings(session, name, user)


@router.post("/v1/meetings/{meeting_id}/join", response_model=MeetingJoinOut)
async def join_meeting(
    meeting_id: str, session: Session, state: State, user: Guest
) -> MeetingJoinOut:
    """How the caller joins this meeting; 410 ``meeting-ended`` once it is over."""
    return await service.join_meeting(state, session, meeting_id, user)


@router.post("/v1/meetings/{meeting_id}/deactivate", response_model=MeetingOut)
async def deactivate_meeting(
    meeting_id: str, session: Session, state: State, user: User
) -> MeetingOut:
    """End the meeting (its room's owner only); opening the room later starts a new one."""
    return await service.deactivate(state, session, meeting_id, user)


@router.post("/v1/meetings/{meeting_id}/recordings/start", response_model=RecordingStarted)
async def start_recording(
    meeting_id: str, body: RecordingStart, session: Session, state: State, user: User
) -> RecordingStarted:
    """Start the meeting's cloud recording: only its participants and the room's owner."""
    return await service.start_recording(state, session, meeting_id, user, body)


@router.post("/v1/meetings/{meeting_id}/consent", response_model=ConsentOut)
async def give_consent(
    meeting_id: str, body: ConsentIn, session: Session, user: Guest
) -> ConsentOut:
    """Answer "may this meeting's audio be kept?". One "no" and the audio is deleted once the
    meeting is transcribed (the text stays), unless the room keeps audio regardless."""
    return await service.set_consent(
        session, meeting_id, user, body.participant_key, body.consent_given
    )


@router.get("/v1/meetings/{meeting_id}/consent", response_model=ConsentOut)
async def get_consent(
    meeting_id: str,
    session: Session,
    user: Guest,
    participant_key: Annotated[str | None, Query(pattern=PARTICIPANT_KEY_PATTERN)] = None,
) -> ConsentOut:
    """The caller's answer (``null`` before answering) and whether the audio will be kept."""
    return await service.get_consent(session, meeting_id, user, participant_key)
