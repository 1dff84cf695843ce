"""Resumable uploads, then processing.

1. ``POST /v1/transcripts/{id}/uploads`` ``{filename, size?}`` opens an upload;
2. ``PUT …/uploads/{upload_id}?offset=N`` appends a chunk (raw bytes) at byte ``N``, which must
   be exactly what was received so far; after a dropped connection, ``GET …/uploads/{upload_id}``
   says where to resume;
3. ``POST …/uploads/{upload_id}/complete`` checks that the file has an audio stream, stores it
   and starts processing.

``POST /v1/transcripts/{id}/upload`` does all three with one request body, for small files and
``curl -T``. Bodies are streamed to disk chunk by chunk, never held in memory.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request

from reflector.api.deps import Session, State, User, owned_transcript, transcript_child
from reflector.api.events import emit_transcript_event, emit_user_event
from reflector.api.problems import Problem
from reflector.api.routers.transcripts import transcript_out
from reflector.api.schemas import JobOut, TranscriptOut, UploadCreate, UploadOut
from reflector.api.state import AppState
from reflector.audio import AudioError, probe
from reflector.db.tables import JobRow, TranscriptRow, UploadRow
from reflector.jobs.submit import create_job

router = APIRouter(prefix="/v1/transcripts", tags=["uploads"])

_BUSY = {"processing", "recording"}


def _upload_out(row: UploadRow) -> UploadOut:
    return UploadOut(
        id=row.id,
        transcript_id=row.transcript_id,
        filename=row.filename,
        size=row.size,
        received=row.received,
        status=row.status,  # type: ignore[arg-type]
    )


def _staging_path(state: AppState, upload_id: str) -> Path:
    return state.settings.data_dir / "uploads" / f"{upload_id}.part"


def _safe_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def _not_busy(row: TranscriptRow) -> None:
    if row.status in _BUSY:
        raise Problem(409, "transcript-busy", f"the transcript is {row.status}; wait until it ends")
    if row.locked:
        raise Problem(423, "locked", "the transcript is locked; unlock it first (locked: false)")


@router.post("/{transcript_id}/uploads", status_code=201, response_model=UploadOut)
async def open_upload(
    transcript_id: str, body: UploadCreate, session: Session, state: State, user: User
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    _not_busy(row)
    limit = state.settings.max_upload_bytes
    if body.size is not None and body.size > limit:
        raise Problem(413, "upload-too-large", f"{body.size} bytes is over the limit of {limit}")
    upload = UploadRow(transcript_id=row.id, filename=body.filename, size=body.size)
    session.add(upload)
    await session.commit()
    path = _staging_path(state, upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return _upload_out(upload)


async def _upload(session: Session, transcript_id: str, upload_id: str) -> UploadRow:
    return await transcript_child(session, UploadRow, upload_id, transcript_id, "upload")


@router.get("/{transcript_id}/uploads/{upload_id}", response_model=UploadOut)
async def upload_status(
    transcript_id: str, upload_id: str, session: Session, user: User
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    return _upload_out(await _upload(session, row.id, upload_id))


async def _append_body(request: Request, path: Path, limit: int) -> int:
    """Stream the request body onto the end of ``path``; at most ``limit`` bytes."""
    written = 0
    handle = await asyncio.to_thread(open, path, "ab")
    try:
        async for chunk in request.stream():
            written += len(chunk)
            if written > limit:
                raise Problem(413, "chunk-too-large", f"more than {limit} bytes in one request")
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.flush)
    except BaseException:
        # Keep exactly the bytes received before this request: a retry resumes cleanly.
        await asyncio.to_thread(handle.close)
        raise
    await asyncio.to_thread(handle.close)
    return written


@router.put("/{transcript_id}/uploads/{upload_id}", response_model=UploadOut)
async def upload_chunk(
    transcript_id: str,
    upload_id: str,
    request: Request,
    session: Session,
    state: State,
    user: User,
    offset: int = Query(ge=0),
) -> UploadOut:
    row = await owned_transcript(session, transcript_id, user)
    upload = await _upload(session, row.id, upload_id)
    if upload.status != "open":
        raise Problem(409, "upload-closed", f"the upload is {upload.status}")
    if offset != upload.received:
        raise Problem(
            409,
            "wrong-offset",
            f"chunk at byte {offset}, but {upload.received} bytes were received: "
            f"send the chunk that starts at {upload.received}",
            expected_offset=upload.received,
        )
    settings = state.settings
    remaining = min(settings.max_upload_bytes, upload.size or settings.max_upload_bytes)
    limit = min(settings.upload_chunk_bytes, remaining - upload.received)
    path = _staging_path(state, upload.id)
    size_before = upload.received
    try:
        written = await _append_body(request, path, limit)
    except Problem:
        await asyncio.to_thread(os.truncate, path, size_before)
        raise
    upload.received = size_before + written
    await session.commit()
    return _upload_out(upload)


async def _start_processing(
    state: AppState, session: Session, row: TranscriptRow, user_id: str, summarize: bool | None
) -> JobRow:
    job = await create_job(session, row, state.settings, summarize)
    await session.commit()
    await emit_transcript_event(state, session, row.id, "STATUS", {"value": row.status})
    await emit_user_event(state, user_id, "TRANSCRIPT_STATUS", row.id, value=row.status)
    await state.submit_job(job.id)
    return job


async def _accept_file(
    state: AppState, session: Session, row: TranscriptRow, path: Path, filename: str
) -> None:
    """Refuse a file without audio (clearly, keeping nothing half-done); else store it."""
    try:
        info = await asyncio.to_thread(probe, path)
    except AudioError as error:
        raise Problem(415, "not-audio", f"the upload cannot be used: {error}") from error
    key = f"transcripts/{row.id}/upload{_safe_suffix(filename)}"
    await state.blobs.put_file(key, path)
    row.upload_key = key
    row.duration = round(info.duration or 0.0, 3)
    row.status = "uploaded"
    row.error = None


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
    user: User,
    summarize: Summarize = None,
) -> TranscriptOut:
    row = await owned_transcript(session, transcript_id, user)
    _not_busy(row)
    upload = await _upload(session, row.id, upload_id)
    if upload.status != "open":
        raise Problem(409, "upload-closed", f"the upload is {upload.status}")
    if upload.size is not None and upload.received != upload.size:
        raise Problem(
            409,
            "upload-incomplete",
            f"{upload.received} of {upload.size} bytes received",
            expected_offset=upload.received,
        )
    if upload.received == 0:
        raise Problem(422, "empty-upload", "the upload is empty")
    path = _staging_path(state, upload.id)
    try:
        await _accept_file(state, session, row, path, upload.filename)
    except Problem:
        upload.status = "rejected"
        await session.commit()
        path.unlink(missing_ok=True)
        raise
    upload.status = "complete"
    await session.commit()
    path.unlink(missing_ok=True)
    await _start_processing(state, session, row, user.id, summarize)
    return transcript_out(row)


@router.post("/{transcript_id}/upload", response_model=TranscriptOut)
async def upload_whole(
    transcript_id: str,
    request: Request,
    session: Session,
    state: State,
    user: User,
    filename: str = Query(default="", max_length=500),
    summarize: Summarize = None,
) -> TranscriptOut:
    """One request: the body is the whole file (any size up to the limit, streamed)."""
    row = await owned_transcript(session, transcript_id, user)
    _not_busy(row)
    upload = UploadRow(transcript_id=row.id, filename=filename)
    session.add(upload)
    await session.commit()
    path = _staging_path(state, upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        received = await _append_body(request, path, state.settings.max_upload_bytes)
        if received == 0:
            raise Problem(422, "empty-upload", "the upload is empty: the request body had no bytes")
        await _accept_file(state, session, row, path, filename)
        upload.received, upload.status = received, "complete"
    except BaseException:
        upload.status = "rejected"
        await session.commit()
        path.unlink(missing_ok=True)
        raise
    await session.commit()
    path.unlink(missing_ok=True)
    await _start_processing(state, session, row, user.id, summarize)
    return transcript_out(row)


@router.post("/{transcript_id}/process", response_model=JobOut, status_code=202)
async def reprocess(
    transcript_id: str, session: Session, state: State, user: User, summarize: Summarize = None
) -> JobOut:
    """Run the whole pipeline again on the stored upload (e.g. after a model upgrade)."""
    row = await owned_transcript(session, transcript_id, user)
    _not_busy(row)
    if row.upload_key is None:
        raise Problem(409, "no-audio", "nothing was uploaded to this transcript yet")
    job = await _start_processing(state, session, row, user.id, summarize)
    return JobOut(
        id=job.id,
        status=job.status,
        stages_done=list(job.stages_done),
        current_stage=job.current_stage,
        error=job.error,
    )
