"""Platform recordings into transcripts, each exactly once.

A platform reports a finished recording (Daily's webhook or a poll of its API, Whereby's
bucket notifications): :func:`store_recording` keeps it as a :class:`RecordingRow`, unique per
platform recording id, so a webhook delivered twice and a poll that finds the same recording
add nothing. :func:`ingest_recording` then claims the row with one conditional update
(``pending`` → ``processing``: one caller wins), copies the files from the platform's bucket
into the blob store (streamed through a temporary file, never whole in memory), creates the
transcript in the meeting's room (owned by the room's owner, tracks named after the meeting's
participants), and starts its job: ``multitrack`` for several audio tracks, ``file`` for one
file. The row ends ``done`` (with the transcript), ``ignored`` (nothing to transcribe) or
``error`` (with the reason; a later retry may claim it again from ``error``).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.blobs import BlobStore, S3BlobStore
from reflector.bus import EventBus
from reflector.db import repository
from reflector.db import rooms as db
from reflector.db.tables import (
    MeetingParticipantRow,
    MeetingRow,
    RecordingRow,
    RoomRow,
    TranscriptRow,
    new_id,
    utcnow,
)
from reflector.domain.events import CreatedData, TranscriptCreatedEvent
from reflector.domain.status import TranscriptStatus
from reflector.errors import ReflectorError
from reflector.pipelines.lifecycle import apply_status
from reflector.pipelines.publish import publish_user_event
from reflector.platforms.base import (
    PlatformNotConfiguredError,
    RecordingBucket,
    RecordingReady,
    make_platform,
)
from reflector.settings import Settings

log = structlog.get_logger(__name__)

POLLED_PLATFORMS = ("daily",)
"""Platforms whose API lists recent recordings (Whereby's arrive through its queue)."""
_DEFAULT_SUFFIX = {"tracks": ".webm", "file": ".mp4"}
"""Daily's raw tracks are WebM and its cloud recordings MP4, with no suffix in the key."""


@dataclass(frozen=True)
class RecordingDeps:
    """What ingestion needs: the server's or worker's stores, and how jobs are handed on."""

    settings: Settings
    sessions: async_sessionmaker
    blobs: BlobStore
    bus: EventBus
    submit_job: Callable[[str], Awaitable[None]]


class IngestError(ReflectorError):
    """The recording cannot become a transcript as it is (its meeting or room is gone)."""


async def store_recording(
    sessions: async_sessionmaker, platform: str, ready: RecordingReady
) -> tuple[RecordingRow, bool]:
    """Keep a reported recording (once per platform recording id) with its meeting; returns
    the row and whether it is new. A recording with no audio file, or of a meeting Reflector
    did not make, is kept as ``ignored`` so it is not looked at again."""
    async with sessions() as session:
        meeting = await db.meeting_by_platform_id(session, platform, ready.platform_meeting_id)
        files = [
            {"key": f.key, "size": f.size, "participant_id": f.participant_id, "type": f.type}
            for f in ready.files
        ]
        row = RecordingRow(
            platform=platform,
            platform_recording_id=ready.recording_id,
            meeting_id=meeting.id if meeting else None,
            kind=ready.kind,
            bucket=ready.bucket,
            keys=files,
            recorded_at=ready.recorded_at,
        )
        if meeting is None:
            row.status, row.error = "ignored", "no meeting of this server has this room"
        elif not [f for f in files if f["type"] == "audio"]:
            row.status, row.error = "ignored", "the recording has no audio file"
        return await db.add_recording(session, row)


async def configured_bucket(settings: Settings, platform_name: str) -> RecordingBucket | None:
    """The bucket the platform's settings name for its recordings, if any."""
    platform = make_platform(platform_name, settings)
    try:
        return platform.recordings_bucket
    finally:
        await platform.aclose()


def bucket_store(bucket: RecordingBucket, name: str | None = None) -> S3BlobStore:
    """A blob store over the platform's bucket, with Reflector's key for it (``name``: another
    bucket than the configured one, read with the same key and endpoint)."""
    return S3BlobStore(
        name or bucket.name,
        endpoint_url=bucket.endpoint_url,
        region=bucket.region,
        access_key=bucket.access_key,
        secret_key=bucket.secret_key,
    )


async def _bucket_for(settings: Settings, row: RecordingRow) -> RecordingBucket:
    configured = await configured_bucket(settings, row.platform)
    if configured is None and not row.bucket:
        raise PlatformNotConfiguredError(
            f"no recordings bucket is configured for {row.platform}; see docs/rooms.md"
        )
    if configured is None:
        return RecordingBucket(name=str(row.bucket))
    if row.bucket and row.bucket != configured.name:
        return dataclasses.replace(configured, name=row.bucket)
    return configured


def _suffix(key: str, kind: str) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    if 1 < len(suffix) <= 6 and suffix[1:].isalnum():
        return suffix
    return _DEFAULT_SUFFIX.get(kind, "")


def _transcript_name(room: RoomRow, meeting: MeetingRow, recorded_at: datetime | None) -> str:
    moment = recorded_at or meeting.start_date or utcnow()
    return f"{room.name} {moment:%Y-%m-%d %H:%M} UTC"


async def ingest_recording(
    deps: RecordingDeps,
    recording_id: str,
    *,
    bucket: RecordingBucket | None = None,
    retry: bool = False,
) -> str | None:
    """Turn the stored recording ``recording_id`` (a :class:`RecordingRow` id) into a
    transcript and start its job; returns the transcript id, or ``None`` when another caller
    has it (or had it) or there is nothing to transcribe.

    ``bucket``: where its files are and how to read them; default the platform's configured
    bucket (named as the row says). ``retry`` also takes a recording that ended in ``error``.
    Never raises for a failed recording: the row says what went wrong.
    """
    async with deps.sessions() as session:
        claimed = await db.claim_recording(
            session, recording_id, *(("pending", "error") if retry else ("pending",))
        )
    if not claimed:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="recording-", dir=_work_root(deps.settings)))
    try:
        transcript_id = await _ingest(deps, recording_id, bucket, workdir)
    except Exception as error:
        reason = str(error) or type(error).__name__
        log.warning("recording_failed", recording=recording_id, error=reason)
        async with deps.sessions() as session:
            await db.finish_recording(session, recording_id, "error", error=reason[:2000])
        if not isinstance(error, ReflectorError):
            log.exception("recording_error", recording=recording_id)
        return None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return transcript_id


def _work_root(settings: Settings) -> Path:
    root = settings.data_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    return root


async def _ingest(
    deps: RecordingDeps, recording_id: str, bucket: RecordingBucket | None, workdir: Path
) -> str | None:
    async with deps.sessions() as session:
        row = await session.get(RecordingRow, recording_id)
        assert row is not None
        meeting = await session.get(MeetingRow, row.meeting_id) if row.meeting_id else None
        room = await session.get(RoomRow, meeting.room_id) if meeting else None
        if meeting is None or room is None:
            raise IngestError("the recording's meeting or room no longer exists")
        people = {p.participant_id: p for p in await db.participants(session, meeting.id)}
        audio = [f for f in row.keys if f.get("type", "audio") == "audio"]
        kind, recorded_at = row.kind, row.recorded_at
    if not audio:
        async with deps.sessions() as session:
            await db.finish_recording(
                session, recording_id, "ignored", error="the recording has no audio file"
            )
        return None
    store = bucket_store(bucket or await _bucket_for(deps.settings, row))

    transcript = TranscriptRow(
        id=new_id(),
        user_id=room.user_id,
        name=_transcript_name(room, meeting, recorded_at),
        source="room",
        status=TranscriptStatus.IDLE.value,
        room_id=room.id,
        meeting_id=meeting.id,
    )
    # Files first, under the new transcript's id: nobody sees the transcript until it has them.
    try:
        tracks = await _copy_tracks(deps, store, audio, kind, transcript.id, people, workdir)
    except BaseException:
        await deps.blobs.delete_prefix(f"transcripts/{transcript.id}/")
        raise
    multitrack = len(tracks) > 1
    if multitrack:
        transcript.tracks = tracks
    else:
        transcript.upload_key = tracks[0]["key"]
    return await _start(deps, recording_id, transcript, "multitrack" if multitrack else "file")


async def _copy_tracks(
    deps: RecordingDeps,
    store: S3BlobStore,
    audio: list[dict[str, Any]],
    kind: str,
    transcript_id: str,
    people: dict[str, MeetingParticipantRow],
    workdir: Path,
) -> list[dict[str, str | None]]:
    """Each audio file from the platform's bucket into the blob store, one at a time through
    a temporary file: ``upload{suffix}`` for one file, ``tracks/{n}{suffix}`` for several."""
    tracks: list[dict[str, str | None]] = []
    for number, item in enumerate(audio):
        key = str(item["key"])
        local = workdir / f"{number}{_suffix(key, kind)}"
        await store.download(key, local)
        if len(audio) == 1:
            target = f"transcripts/{transcript_id}/upload{local.suffix}"
        else:
            target = f"transcripts/{transcript_id}/tracks/{number}{local.suffix}"
        await deps.blobs.put_file(target, local)
        local.unlink()
        person = people.get(item.get("participant_id") or "")
        tracks.append(
            {
                "key": target,
                "name": (person.name if person and person.name else f"Speaker {number + 1}"),
                "user_id": person.user_id if person else None,
                "participant_id": item.get("participant_id"),
                # Daily's file name holds the track's start time: the fallback when the
                # container does not say when its audio began.
                "filename": key.rsplit("/", 1)[-1],
            }
        )
    return tracks


async def _start(
    deps: RecordingDeps, recording_id: str, transcript: TranscriptRow, pipeline: str
) -> str:
    from reflector.jobs.submit import start_processing  # jobs build on pipelines

    async with deps.sessions() as session:
        await repository.ensure_user(session, transcript.user_id)
        session.add(transcript)
        apply_status(transcript, TranscriptStatus.UPLOADED)
        await session.commit()
        transcript_id, owner = transcript.id, transcript.user_id
        created = TranscriptCreatedEvent(
            transcript_id=transcript_id, data=CreatedData(name=transcript.name)
        )
        await publish_user_event(deps.bus, owner, created)
        job = await start_processing(
            session, deps.bus, transcript, deps.settings, pipeline=pipeline
        )
        await db.finish_recording(session, recording_id, "done", transcript_id=transcript_id)
    await deps.submit_job(job.id)
    log.info("recording_ingested", recording=recording_id, transcript=transcript_id)
    return transcript_id


async def ingest_pending(deps: RecordingDeps, limit: int = 20) -> list[str]:
    """Ingest stored recordings still ``pending`` (their webhook's server stopped before it
    got to them); returns the transcripts made."""
    async with deps.sessions() as session:
        pending: Sequence[str] = await db.pending_recordings(session, limit)
    made = []
    for recording_id in pending:
        transcript_id = await ingest_recording(deps, recording_id)
        if transcript_id:
            made.append(transcript_id)
    return made


async def poll_recordings(deps: RecordingDeps) -> list[str]:
    """Ask the platforms that list recordings for recent finished ones, keep those not known
    yet, and ingest every pending recording: the safety net for lost webhooks. Returns the
    transcripts made. A platform that is not configured is skipped."""
    since = utcnow() - timedelta(seconds=deps.settings.recording_poll_lookback_seconds)
    for name in POLLED_PLATFORMS:
        platform = make_platform(name, deps.settings)
        try:
            found = await platform.recent_recordings(since)
        except PlatformNotConfiguredError:
            continue
        except ReflectorError as error:
            log.warning("recording_poll_failed", platform=name, error=str(error))
            continue
        finally:
            await platform.aclose()
        for ready in found:
            _, new = await store_recording(deps.sessions, name, ready)
            if new:
                log.info("recording_found_by_poll", platform=name, recording=ready.recording_id)
    return await ingest_pending(deps)
