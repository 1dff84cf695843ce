"""Meeting consent, applied once a meeting's transcript is made: if anybody in the meeting
declined to have its audio kept (and the room does not keep audio regardless), every copy of the
audio goes (the MP3, the upload or the per-speaker tracks, and the originals in the platform's
bucket); the text, speakers and summaries stay, and the transcript says ``audio_deleted``.

Called by the last stage of every pipeline, before the transcript is announced as ended, so
there is no moment when a finished transcript plays audio somebody refused. A store that cannot
delete now fails the stage, which is tried again: the audio is never kept by accident.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.blobs import BlobStore
from reflector.db import repository
from reflector.db import rooms as db
from reflector.db.tables import MeetingRow, RecordingRow, RoomRow
from reflector.errors import ReflectorError
from reflector.pipelines.recordings import bucket_store, configured_bucket
from reflector.settings import Settings

log = structlog.get_logger(__name__)


async def audio_refused(sessions: async_sessionmaker, transcript_id: str) -> bool:
    """Whether the transcript's meeting has a participant who declined, in a room that asks."""
    async with sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        if row.meeting_id is None or row.audio_deleted:
            return False
        meeting = await session.get(MeetingRow, row.meeting_id)
        if meeting is None:
            return False
        room = await session.get(RoomRow, meeting.room_id)
        if room is not None and room.skip_consent:
            return False
        return await db.anyone_declined(session, meeting.id)


async def apply_consent(
    sessions: async_sessionmaker, blobs: BlobStore, settings: Settings, transcript_id: str
) -> bool:
    """Delete the transcript's audio if its meeting's consent says so; returns whether it
    did."""
    if not await audio_refused(sessions, transcript_id):
        return False
    async with sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        keys = {k for k in (row.audio_key, row.upload_key) if k}
        keys.update(str(t["key"]) for t in row.tracks or [] if t.get("key"))
        originals = (
            await session.scalars(
                select(RecordingRow).where(RecordingRow.transcript_id == transcript_id)
            )
        ).all()
    for key in sorted(keys):
        await blobs.delete(key)
    await blobs.delete_prefix(f"transcripts/{transcript_id}/tracks/")
    for recording in originals:
        await _delete_originals(settings, recording)
    async with sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        row.audio_deleted = True
        row.audio_key = None
        row.upload_key = None
        await session.commit()
    log.info("audio_deleted_for_consent", transcript=transcript_id)
    return True


async def _delete_originals(settings: Settings, recording: RecordingRow) -> None:
    """The platform's own copies, as far as Reflector may delete them (a bucket it can only
    read leaves them to the bucket's lifecycle rules, with a warning)."""
    bucket = await configured_bucket(settings, recording.platform)
    if bucket is None:
        return
    store = bucket_store(bucket, recording.bucket)
    for item in recording.keys:
        try:
            await store.delete(str(item["key"]))
        except (ReflectorError, ValueError) as error:
            log.warning("platform_recording_not_deleted", key=item.get("key"), error=str(error))
