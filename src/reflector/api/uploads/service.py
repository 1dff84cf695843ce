"""What the upload routes do, apart from HTTP: staging files on disk, accepting a finished one
into the blob store, and starting its processing."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from reflector.api.deps import ensure_unlocked, transcript_child
from reflector.api.problems import Problem
from reflector.api.schemas import from_row
from reflector.api.state import AppState
from reflector.api.uploads.schemas import JobOut, UploadOut
from reflector.audio import AudioError, probe
from reflector.blobs import BlobStoreFull
from reflector.blobs.staging import ChecksumError, UploadStaging, parse_checksum
from reflector.db.tables import JobRow, TranscriptRow, UploadRow
from reflector.domain.status import TranscriptStatus
from reflector.jobs import submit
from reflector.jobs.housekeeping import expire_uploads
from reflector.pipelines.lifecycle import apply_status

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

_BUSY = {TranscriptStatus.PROCESSING, TranscriptStatus.RECORDING}
SWEEP_INTERVAL_SECONDS = 60.0
"""Least time between two looks for expired uploads when uploads are opened."""
LOCK_WAIT_SECONDS = 30.0
"""How long a request waits for another one writing to the same upload (a commit of one
chunk takes well under this) before it is answered 409."""
_WRITE_BYTES = 1024 * 1024
"""A chunk's body is written to disk in pieces of about this size."""


def upload_out(row: UploadRow) -> UploadOut:
    return from_row(UploadOut, row)


def job_out(row: JobRow) -> JobOut:
    return from_row(JobOut, row, stages_done=list(row.stages_done))


def ensure_not_busy(row: TranscriptRow) -> None:
    if row.status in _BUSY:
        raise Problem(409, "transcript-busy", f"the transcript is {row.status}; wait until it ends")
    ensure_unlocked(row)


def staging(state: AppState) -> UploadStaging:
    return UploadStaging.in_data_dir(state.settings.data_dir)


def _safe_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


async def _new_upload(
    state: AppState, session: AsyncSession, transcript_id: str, filename: str, size: int | None
) -> tuple[UploadRow, Path]:
    upload = UploadRow(transcript_id=transcript_id, filename=filename, size=size)
    session.add(upload)
    await session.commit()
    path = await asyncio.to_thread(staging(state).create, upload.id)
    return upload, path


async def open_upload(
    state: AppState, session: AsyncSession, transcript_id: str, filename: str, size: int | None
) -> UploadRow:
    limit = state.settings.max_upload_bytes
    if size is not None and size > limit:
        raise Problem(413, "upload-too-large", f"{size} bytes is over the limit of {limit}")
    # Uploads are staged on this server's disk, so this server also clears the abandoned
    # ones (besides the in-process runner's housekeeping, which the Celery mode lacks); at
    # most once a minute, so opening uploads does not repeat the scan.
    swept = state.uploads_swept_at
    if swept is None or time.monotonic() - swept >= SWEEP_INTERVAL_SECONDS:
        state.uploads_swept_at = time.monotonic()
        await expire_uploads(state.sessions, staging(state), state.settings.upload_expiry_seconds)
    upload, _ = await _new_upload(state, session, transcript_id, filename, size)
    return upload


async def upload(session: AsyncSession, transcript_id: str, upload_id: str) -> UploadRow:
    return await transcript_child(session, UploadRow, upload_id, transcript_id, "upload")


def _ensure_open(upload: UploadRow) -> None:
    if upload.status != "open":
        raise Problem(409, "upload-closed", f"the upload is {upload.status}")


def _write_parts(handle: BinaryIO, parts: list[bytes], digest: Hash | None) -> None:
    handle.writelines(parts)
    if digest is not None:
        for part in parts:
            digest.update(part)


async def _stream_body(request: Request, path: Path, limit: int, digest: Hash | None = None) -> int:
    """Stream the request body into ``path`` (created); at most ``limit`` bytes, fed to
    ``digest`` too when given. On any failure (a refused size, a dropped connection) ``path``
    is removed: nothing half-received is ever kept."""
    written = 0
    pending: list[bytes] = []
    pending_bytes = 0
    try:
        handle = await asyncio.to_thread(open, path, "wb")
        try:
            async for chunk in request.stream():
                written += len(chunk)
                if written > limit:
                    raise Problem(413, "chunk-too-large", f"more than {limit} bytes in one request")
                # The server hands the body over in pieces of some kilobytes: written a
                # megabyte at a time, they cost one hop to a thread each, not hundreds.
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _WRITE_BYTES:
                    await asyncio.to_thread(_write_parts, handle, pending, digest)
                    pending, pending_bytes = [], 0
            if pending:
                await asyncio.to_thread(_write_parts, handle, pending, digest)
        finally:
            await asyncio.to_thread(handle.close)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return written


@contextlib.asynccontextmanager
async def _exclusive(state: AppState, upload_id: str) -> AsyncIterator[None]:
    """Hold the upload's lock; another request holding it for longer than a commit takes is
    answered 409 ``upload-busy``."""
    store = staging(state)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while (handle := await asyncio.to_thread(store.try_lock, upload_id)) is None:
        if time.monotonic() > deadline:
            raise Problem(409, "upload-busy", "another request is writing to this upload; retry")
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await asyncio.to_thread(store.unlock, handle)


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _disk_space_checked(upload: UploadRow | None) -> Iterator[None]:
    """A full disk (or quota) while bytes are written is answered 507
    ``insufficient-storage``. What the request wrote is gone by then (chunks and blobs are
    written aside and discarded when they fail); a resumable ``upload`` stays as it was, to be
    resumed at ``expected_offset`` once there is room."""
    try:
        yield
    except (OSError, BlobStoreFull) as error:
        if isinstance(error, OSError) and error.errno not in _NO_SPACE:
            raise
        raise Problem(
            507,
            "insufficient-storage",
            "the server has no room to store this upload now; nothing of this request was "
            "kept: send it again later",
            **({"expected_offset": upload.received} if upload is not None else {}),
        ) from error


def _wrong_offset(offset: int, received: int) -> Problem:
    return Problem(
        409,
        "wrong-offset",
        f"chunk at byte {offset}, but {received} bytes were received: "
        f"send the chunk that starts at {received}",
        expected_offset=received,
    )


async def append_chunk(
    state: AppState,
    session: AsyncSession,
    upload: UploadRow,
    request: Request,
    offset: int,
    checksum: str | None = None,
) -> None:
    """The request body goes at byte ``offset``: where the upload stands, or earlier to
    rewrite bytes already sent (nothing after the chunk is lost).

    The body is received into a temp file first and written into the upload, with the new
    counter, only once it has fully arrived (and matches ``checksum``, the chunk's own
    ``sha256 <digest>``, when given), so an interrupted or damaged chunk leaves nothing
    behind. Requests for one upload are written one at a time.
    """
    expected = _parse_checksum(checksum)
    _ensure_open(upload)
    if offset > upload.received:
        raise _wrong_offset(offset, upload.received)
    settings = state.settings
    total = min(settings.max_upload_bytes, upload.size or settings.max_upload_bytes)
    limit = max(0, min(settings.upload_chunk_bytes, total - offset))
    store = staging(state)
    chunk = store.new_chunk(upload.id)
    try:
        with _disk_space_checked(upload):
            digest = hashlib.sha256() if expected is not None else None
            written = await _stream_body(request, chunk, limit, digest)
            if digest is not None and digest.digest() != expected:
                raise Problem(
                    422,
                    "checksum-mismatch",
                    "the chunk's bytes do not match its Upload-Checksum header; nothing of it "
                    "was kept: send it again",
                    expected_offset=upload.received,
                )
            async with _exclusive(state, upload.id):
                # Another request may have moved the upload on while this body arrived.
                await session.refresh(upload)
                _ensure_open(upload)
                if offset > upload.received:
                    raise _wrong_offset(offset, upload.received)
                if written:
                    upload.received = await asyncio.to_thread(
                        store.write_at, upload.id, offset, chunk, upload.received
                    )
                    await session.commit()
    finally:
        store.discard(chunk)


async def start_processing(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    summarize: bool | None = None,
    pipeline: str = "file",
) -> JobRow:
    """Queue the whole pipeline on the transcript's stored upload (or tracks: ``pipeline``
    ``multitrack``), and say so to listeners (the ``STATUS`` event and the owner's
    ``TRANSCRIPT_STATUS``). A job that cannot be handed on now (the broker is down) is kept
    and sent by the next sweep: the request still succeeds."""
    job = await submit.start_processing(
        session, state.bus, row, state.settings, summarize, pipeline
    )
    try:
        await state.submit_job(job.id)
    except Exception as error:
        await submit.submission_failed(state.sessions, job.id, state.settings, error)
    return job


async def _accept_file(state: AppState, row: TranscriptRow, path: Path, filename: str) -> None:
    """Refuse a file without audio (clearly, keeping nothing half-done); else store it."""
    try:
        info = await asyncio.to_thread(probe, path)
    except AudioError as error:
        raise Problem(415, "not-audio", f"the upload cannot be used: {error}") from error
    limit = state.settings.max_audio_seconds
    if info.duration is not None and info.duration > limit:
        # Refused before anything is stored; a file that hides its length is stopped while
        # it is decoded, by the job.
        raise Problem(
            413,
            "audio-too-long",
            f"the recording lasts {info.duration:.0f} s, over the limit of {limit:.0f} s",
        )
    key = f"transcripts/{row.id}/upload{_safe_suffix(filename)}"
    await state.blobs.put_file(key, path)
    row.upload_key = key
    row.duration = round(info.duration or 0.0, 3)
    # Committed with the upload by the caller; processing starts (and is announced) next.
    apply_status(row, TranscriptStatus.UPLOADED)


async def _verify(
    state: AppState, session: AsyncSession, upload: UploadRow, checksum: str | None
) -> None:
    """The staged file holds exactly the announced bytes, with the client's checksum."""
    digest = _parse_checksum(checksum)
    if upload.size is not None and upload.received != upload.size:
        raise Problem(
            409,
            "upload-incomplete",
            f"{upload.received} of {upload.size} bytes received",
            expected_offset=upload.received,
        )
    if upload.received == 0:
        raise Problem(422, "empty-upload", "the upload is empty")
    store = staging(state)
    on_disk = await asyncio.to_thread(store.trim, upload.id, upload.received)
    if on_disk < upload.received:
        # The disk lost accepted bytes (a crash before they reached it): resume from there.
        upload.received = on_disk
        await session.commit()
        raise Problem(
            409,
            "upload-incomplete",
            f"only {on_disk} bytes of the upload are stored; send the rest again",
            expected_offset=on_disk,
        )
    if digest is not None and await asyncio.to_thread(store.sha256, upload.id) != digest:
        raise Problem(
            422,
            "checksum-mismatch",
            "the uploaded bytes do not match the Upload-Checksum header; the upload is kept: "
            "send the damaged chunks again (a PUT at an earlier offset rewrites) and complete",
        )


def _parse_checksum(header: str | None) -> bytes | None:
    if header is None:
        return None
    try:
        return parse_checksum(header)
    except ChecksumError as error:
        raise Problem(400, "invalid-checksum", f"Upload-Checksum: {error}") from error


async def complete_upload(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    upload: UploadRow,
    summarize: bool | None,
    checksum: str | None = None,
) -> None:
    """Check that every byte came (size and, when given, the client's SHA-256), store the
    file and start processing it. A mismatch keeps the upload open, to be fixed."""
    store = staging(state)
    async with _exclusive(state, upload.id):
        await session.refresh(upload)
        _ensure_open(upload)
        await _verify(state, session, upload, checksum)
        # A full blob store is not the file's fault: the upload stays open, to be completed
        # again once there is room.
        with _disk_space_checked(upload):
            try:
                await _accept_file(state, row, store.path(upload.id), upload.filename)
            except Problem:
                upload.status = "rejected"
                await session.commit()
                await asyncio.to_thread(store.remove, upload.id)
                raise
        upload.status = "complete"
        await session.commit()
    await asyncio.to_thread(store.remove, upload.id)
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
        with _disk_space_checked(None):
            received = await _stream_body(request, path, state.settings.max_upload_bytes)
            if received == 0:
                raise Problem(
                    422, "empty-upload", "the upload is empty: the request body had no bytes"
                )
            await _accept_file(state, row, path, filename)
        upload.received, upload.status = received, "complete"
    except BaseException:
        # One request is the whole upload: nothing to resume, so nothing is kept.
        upload.status = "rejected"
        await session.commit()
        path.unlink(missing_ok=True)
        raise
    await session.commit()
    path.unlink(missing_ok=True)
    await start_processing(state, session, row, summarize)
