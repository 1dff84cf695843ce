"""What the upload routes do, apart from HTTP: staging files on disk, accepting a finished one
into the blob store, and starting its processing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from reflector.api.deps import transcript_child
from reflector.api.problems import Problem
from reflector.api.schemas import from_row
from reflector.api.state import AppState
from reflector.api.uploads.schemas import JobOut, UploadOut
from reflector.audio import AudioError, probe
from reflector.db.tables import JobRow, TranscriptRow, UploadRow
from reflector.domain.status import TranscriptStatus
from reflector.jobs import submit
from reflector.pipelines.lifecycle import apply_status

_BUSY = {TranscriptStatus.PROCESSING, TranscriptStatus.RECORDING}


def upload_out(row: UploadRow) -> UploadOut:
    return from_row(UploadOut, row)


def job_out(row: JobRow) -> JobOut:
    return from_row(JobOut, row, stages_done=list(row.stages_done))


def ensure_not_busy(row: TranscriptRow) -> None:
    if row.status in _BUSY:
        raise Problem(409, "transcript-busy", f"the transcript is {row.status}; wait until it ends")
    if row.locked:
        raise Problem(423, "locked", "the transcript is locked; unlock it first (locked: false)")


def _staging_path(state: AppState, upload_id: str) -> Path:
    return state.settings.data_dir / "uploads" / f"{upload_id}.part"


def _safe_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


async def _new_upload(
    state: AppState, session: AsyncSession, transcript_id: str, filename: str, size: int | None
) -> tuple[UploadRow, Path]:
    upload = UploadRow(transcript_id=transcript_id, filename=filename, size=size)
    session.add(upload)
    await session.commit()
    path = _staging_path(state, upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return upload, path


async def open_upload(
    state: AppState, session: AsyncSession, transcript_id: str, filename: str, size: int | None
) -> UploadRow:
    limit = state.settings.max_upload_bytes
    if size is not None and size > limit:
        raise Problem(413, "upload-too-large", f"{size} bytes is over the limit of {limit}")
    upload, path = await _new_upload(state, session, transcript_id, filename, size)
    path.write_bytes(b"")
    return upload


async def upload(session: AsyncSession, transcript_id: str, upload_id: str) -> UploadRow:
    return await transcript_child(session, UploadRow, upload_id, transcript_id, "upload")


def _ensure_open(upload: UploadRow) -> None:
    if upload.status != "open":
        raise Problem(409, "upload-closed", f"the upload is {upload.status}")


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


async def append_chunk(
    state: AppState, session: AsyncSession, upload: UploadRow, request: Request, offset: int
) -> None:
    """The request body goes at byte ``offset``, which must be where the upload stands."""
    _ensure_open(upload)
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


async def start_processing(
    state: AppState, session: AsyncSession, row: TranscriptRow, summarize: bool | None = None
) -> JobRow:
    """Queue the whole pipeline on the transcript's stored upload, and say so to listeners
    (the ``STATUS`` event and the owner's ``TRANSCRIPT_STATUS``)."""
    job = await submit.start_processing(session, state.bus, row, state.settings, summarize)
    await state.submit_job(job.id)
    return job


async def _accept_file(state: AppState, row: TranscriptRow, path: Path, filename: str) -> None:
    """Refuse a file without audio (clearly, keeping nothing half-done); else store it."""
    try:
        info = await asyncio.to_thread(probe, path)
    except AudioError as error:
        raise Problem(415, "not-audio", f"the upload cannot be used: {error}") from error
    key = f"transcripts/{row.id}/upload{_safe_suffix(filename)}"
    await state.blobs.put_file(key, path)
    row.upload_key = key
    row.duration = round(info.duration or 0.0, 3)
    # Committed with the upload by the caller; processing starts (and is announced) next.
    apply_status(row, TranscriptStatus.UPLOADED)


async def complete_upload(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    upload: UploadRow,
    summarize: bool | None,
) -> None:
    """Check that every byte came, store the file and start processing it."""
    _ensure_open(upload)
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
        await _accept_file(state, row, path, upload.filename)
    except Problem:
        upload.status = "rejected"
        await session.commit()
        path.unlink(missing_ok=True)
        raise
    upload.status = "complete"
    await session.commit()
    path.unlink(missing_ok=True)
    await start_processing(state, session, row, summarize)


async def upload_whole(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    request: Request,
    filename: str,
    summarize: bool | None,
) -> None:
    """The request body is the whole file: stored, then processed."""
    upload, path = await _new_upload(state, session, row.id, filename, None)
    try:
        received = await _append_body(request, path, state.settings.max_upload_bytes)
        if received == 0:
            raise Problem(422, "empty-upload", "the upload is empty: the request body had no bytes")
        await _accept_file(state, row, path, filename)
        upload.received, upload.status = received, "complete"
    except BaseException:
        upload.status = "rejected"
        await session.commit()
        path.unlink(missing_ok=True)
        raise
    await session.commit()
    path.unlink(missing_ok=True)
    await start_processing(state, session, row, summarize)
