"""Resumable uploads, then processing.

1. ``POST /v1/transcripts/{id}/uploads`` ``{filename, size?}`` opens an upload;
2. ``PUT …/uploads/{upload_id}?offset=N`` writes a chunk (raw bytes) at byte ``N``: what was
   received so far (or earlier, to rewrite); a chunk counts only once it has fully arrived
   (and matches its own ``Upload-Checksum``, optional), so after a dropped connection
   ``GET …/uploads/{upload_id}`` says exactly where to resume;
3. ``POST …/uploads/{upload_id}/complete`` checks the size, the client's checksum
   (``Upload-Checksum: sha256 <digest>``, optional) and that the file has an audio stream,
   stores it and starts processing.

``POST /v1/transcripts/{id}/upload`` does all three with one request body, for small files and
``curl -T``. Bodies are streamed to disk chunk by chunk, never held in memory.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from reflector.api.deps import Session, State, User, owned_transcript
from reflector.api.problems import Problem
from reflector.api.rate_limits import ExpensiveUser
from reflector.api.transcripts.schemas import TranscriptOut
from reflector.api.transcripts.service import transcript_out
from reflector.api.uploads import service
from reflector.api.uploads.schemas import JobOut, UploadCreate, UploadOut
from reflector.jobs.submit import TranscriptBusy, pipeline_for

SETTLING_TRIES = 25
SETTLING_PAUSE_SECONDS = 0.2
"""How long a reprocess waits (5 s in all) for a job that has just ended its transcript."""

router = APIRouter(prefix="/v1/transcripts", tags=["uploads"])


@router.post("/{transcript_id}/uploads", status_code=201, response_model=UploadOut)
async def open_upload(
    transcript_id: str, body: UploadCreate, session: Session, state: State, user: User
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    service.ensure_not_busy(row)
    upload = await service.open_upload(state, session, row.id, body.filename, body.size)
    return service.upload_out(upload)


@router.get("/{transcript_id}/uploads/{upload_id}", response_model=UploadOut)
async def upload_status(
    transcript_id: str, upload_id: str, session: Session, user: User
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    return service.upload_out(await service.upload(session, row.id, upload_id))


@router.put("/{transcript_id}/uploads/{upload_id}", response_model=UploadOut)
async def upload_chunk(
    transcript_id: str,
    upload_id: str,
    request: Request,
    session: Session,
    state: State,
    user: User,
    offset: int = Query(ge=0),
    upload_checksum: Annotated[
        str | None,
        Header(
            alias="Upload-Checksum",
            description="`sha256 <digest>` of this chunk (base64, or 64 hex digits); a "
            "mismatch is refused with 422 and nothing of the chunk is kept",
        ),
    ] = None,
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    upload = await service.upload(session, row.id, upload_id)
    await service.append_chunk(state, session, upload, request, offset, upload_checksum)
    return service.upload_out(upload)


Summarize = Annotated[
    bool | None,
    Query(description="Title, topics, summaries, action items; default: recordings over 1 min"),
]


@router.post("/{transcript_id}/uploads/{upload_id}/complete", response_model=TranscriptOut)
async def complete_upload(
    transcript_id: str,
    upload_id: str,
    session: Session,
    state: State,
    user: ExpensiveUser,
    summarize: Summarize = None,
    upload_checksum: Annotated[
        str | None,
        Header(
            alias="Upload-Checksum",
            description="`sha256 <digest>` of the whole file (base64, or 64 hex digits); "
            "a mismatch is refused with 422 and the upload is kept",
        ),
    ] = None,
) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user)
    service.ensure_not_busy(row)
    upload = await service.upload(session, row.id, upload_id)
    await service.complete_upload(state, session, row, upload, summarize, upload_checksum)
    return transcript_out(row)


@router.post("/{transcript_id}/upload", response_model=TranscriptOut)
async def upload_whole(
    transcript_id: str,
    request: Request,
    session: Session,
    state: State,
    user: ExpensiveUser,
    filename: str = Query(default="", max_length=500),
    summarize: Summarize = None,
) -> TranscriptOut:
    """One request: the body is the whole file (any size up to the limit, streamed)."""
    row = await owned_transcript(session, transcript_id, user)
    service.ensure_not_busy(row)
    await service.upload_whole(state, session, row, request, filename, summarize)
    return transcript_out(row)


@router.post("/{transcript_id}/process", response_model=JobOut, status_code=202)
async def reprocess(
    transcript_id: str,
    session: Session,
    state: State,
    user: ExpensiveUser,
    summarize: Summarize = None,
) -> JobOut:
    """Run the whole pipeline again on the stored upload or tracks (e.g. after a model
    upgrade)."""
    waited = 0
    while True:
        row = await owned_transcript(session, transcript_id, user)
        service.ensure_not_busy(row)
        if row.audio_deleted:
            raise Problem(
                410, "audio-deleted", "the audio was deleted; it cannot be processed again"
            )
        if row.upload_key is None and not row.tracks:
            raise Problem(409, "no-audio", "nothing was uploaded to this transcript yet")
        pipeline = pipeline_for(row)  # the tracks again, if it has some
        try:
            job = await service.start_processing(state, session, row, summarize, pipeline)
        except TranscriptBusy:
            # A job announces ``ended`` (and queues its notifications) a moment before it
            # is marked done: a request in that moment waits for it instead of a refusal.
            waited += 1
            if waited > SETTLING_TRIES:
                raise
            await asyncio.sleep(SETTLING_PAUSE_SECONDS)
            continue
        return service.job_out(job)
