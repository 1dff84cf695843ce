"""Whereby's recordings from its bucket's notifications: each new file becomes a
:class:`RecordingRow` once, then a transcript.

The queue delivers at least once, so a message may come twice (or after another reader's
visibility timeout ran out): the row, unique per object key, is what makes the file processed
once. A message is deleted only after its rows are committed; one that fails before (the
database is away) stays on the queue and comes back. Recordings are ingested after their
message is deleted, so a long copy never outlasts the message's visibility timeout. A message
that is not an S3 notification can never succeed, so it is logged and deleted rather than read
again forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy import select

from reflector.db.tables import MeetingRow
from reflector.errors import ReflectorError
from reflector.pipelines.recordings import RecordingDeps, ingest_recording, store_recording
from reflector.platforms.base import RecordingFile, RecordingReady
from reflector.platforms.whereby import RecordingKeyError, parse_recording_key, room_name_of
from reflector.platforms.whereby_sqs import (
    CreatedObject,
    MalformedNotification,
    QueueMessage,
    SqsConfig,
    SqsQueue,
    parse_notification,
)

log = structlog.get_logger(__name__)

PLATFORM = "whereby"
MAX_KEY_LENGTH = 300
"""``RecordingRow.platform_recording_id`` holds the object key."""


@dataclass
class PollReport:
    """What one read of the queue did."""

    messages: int = 0
    recorded: list[str] = field(default_factory=list)
    """New recording rows (pending or ignored)."""
    duplicates: int = 0
    """Files already recorded (the same notification delivered again)."""
    skipped: int = 0
    """Objects that are not recordings of this installation's bucket."""
    malformed: int = 0
    """Messages deleted unread: not S3 notifications."""
    failed: int = 0
    """Messages left on the queue to come back (the database or the queue was away)."""
    transcripts: list[str] = field(default_factory=list)


async def poll_whereby_queue(
    deps: RecordingDeps, queue: SqsQueue | None = None, *, max_messages: int = 100
) -> PollReport:
    """Read up to ``max_messages`` messages from the Whereby queue (the one the settings name,
    unless ``queue`` is given), record the files they announce and ingest the new ones.
    Returns a report; nothing is read when no queue is configured."""
    report = PollReport()
    own_queue = queue is None
    if queue is None:
        config = SqsConfig.from_settings(deps.settings)
        if config is None:
            return report
        queue = SqsQueue(config)
    try:
        while report.messages < max_messages:
            messages = await queue.receive(min(10, max_messages - report.messages))
            if not messages:
                break
            report.messages += len(messages)
            for message in messages:
                for recording_id in await _handle(deps, queue, message, report):
                    transcript_id = await ingest_recording(deps, recording_id)
                    if transcript_id:
                        report.transcripts.append(transcript_id)
    finally:
        if own_queue:
            queue.close()
    return report


async def _handle(
    deps: RecordingDeps, queue: SqsQueue, message: QueueMessage, report: PollReport
) -> list[str]:
    """Record the message's files and delete it; returns the recordings to ingest."""
    try:
        created = parse_notification(message.body)
    except MalformedNotification as error:
        log.warning(
            "whereby_queue_message_malformed",
            message=message.message_id,
            error=str(error),
            body=message.body[:500],
        )
        report.malformed += 1
        await queue.delete(message)
        return []
    to_ingest: list[str] = []
    try:
        for item in created:
            recording = await _record(deps, item, report)
            if recording is not None:
                to_ingest.append(recording)
    except Exception as error:
        # The database is away: the message comes back after its visibility timeout, and the
        # files recorded before the failure are recognised (and still ingested) then.
        log.warning("whereby_queue_message_failed", message=message.message_id, error=repr(error))
        report.failed += 1
        return []
    try:
        await queue.delete(message)
    except ReflectorError as error:
        # Recorded all the same: when the message comes back its files are known.
        log.warning("whereby_queue_delete_failed", message=message.message_id, error=str(error))
        report.failed += 1
    return to_ingest


async def _record(deps: RecordingDeps, item: CreatedObject, report: PollReport) -> str | None:
    """Keep one created object as a recording; returns its id while it waits to be ingested
    (new, or stored by a delivery that stopped before ingesting it: the claim in
    :func:`ingest_recording` lets only one caller have it)."""
    expected = deps.settings.whereby_recordings_bucket
    if expected and item.bucket != expected:
        log.info("whereby_object_of_another_bucket", bucket=item.bucket, key=item.key)
        report.skipped += 1
        return None
    try:
        name = parse_recording_key(item.key)
    except RecordingKeyError as error:
        log.info("whereby_object_not_a_recording", key=item.key, reason=str(error))
        report.skipped += 1
        return None
    if len(item.key) > MAX_KEY_LENGTH:
        log.warning("whereby_recording_key_too_long", key=item.key)
        report.skipped += 1
        return None
    meeting_id = await meeting_of_room(deps, name.room_name)
    ready = RecordingReady(
        # A room no meeting of this server has gives no meeting: the row is kept as ignored.
        platform_meeting_id=meeting_id or name.room_name,
        recording_id=item.key,
        kind="file",
        files=(RecordingFile(key=item.key, size=item.size),),
        bucket=item.bucket,
        recorded_at=name.recorded_at,
    )
    row, new = await store_recording(deps.sessions, PLATFORM, ready)
    if new:
        report.recorded.append(row.id)
        log.info("whereby_recording_found", key=item.key, recording=row.id, status=row.status)
    else:
        log.info("whereby_recording_seen_again", key=item.key, recording=row.id)
        report.duplicates += 1
    return row.id if row.status == "pending" else None


async def meeting_of_room(deps: RecordingDeps, room_name: str) -> str | None:
    """The Whereby meeting id (``platform_meeting_id``) whose room URL ends in ``room_name``:
    a recording's file is named after the room, not the meeting."""
    escaped = room_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    async with deps.sessions() as session:
        rows = await session.execute(
            select(MeetingRow.platform_meeting_id, MeetingRow.room_url).where(
                MeetingRow.platform == PLATFORM,
                MeetingRow.room_url.like(f"%/{escaped}", escape="\\"),
            )
        )
        for platform_meeting_id, room_url in rows:
            if room_url and room_name_of(room_url) == room_name:
                return platform_meeting_id
    return None
