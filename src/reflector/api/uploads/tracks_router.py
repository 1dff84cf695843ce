"""``POST /v1/transcripts/{id}/tracks``: a multitrack recording, one audio file per
participant, in one multipart request; each file becomes a speaker (see ``tracks.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from reflector.api.deps import Session, State, owned_transcript
from reflector.api.rate_limits import ExpensiveUser
from reflector.api.transcripts.schemas import TranscriptOut
from reflector.api.transcripts.service import transcript_out
from reflector.api.uploads import service, tracks
from reflector.api.uploads.router import Summarize

router = APIRouter(prefix="/v1/transcripts", tags=["uploads"])

FILES_HELP = (
    "One audio file per participant (any format FFmpeg reads), in speaker order; where a "
    "track starts in the meeting is read from its audio stream (or a Daily file name)"
)
NAMES_HELP = (
    "The speaker name of each file, in the same order (default: the file names without "
    "their extension)"
)


@router.post("/{transcript_id}/tracks", response_model=TranscriptOut)
async def upload_tracks(
    transcript_id: str,
    session: Session,
    state: State,
    user: ExpensiveUser,
    files: Annotated[list[UploadFile] | None, File(description=FILES_HELP)] = None,
    names: Annotated[list[str] | None, Form(description=NAMES_HELP)] = None,
    summarize: Summarize = None,
) -> TranscriptOut:
    """Upload every participant's track at once; they are checked, stored, and processed as
    one meeting whose speakers are the tracks."""
    row = await owned_transcript(session, transcript_id, user)
    service.ensure_not_busy(row)
    await tracks.accept_tracks(state, session, row, files or [], names, summarize)
    return transcript_out(row)
