"""Platform recordings that failed (the bucket was unreachable, storage was full, ...) are
tried again later, each a limited number of times.

A recording in ``error`` with fewer than ``recording_max_attempts`` tries is taken again once
``recording_retry_seconds`` have passed since its last try, doubled per try (5 min, 10, 20, …
by default). :func:`~reflector.pipelines.recordings.ingest_recording` claims it with a
conditional update, so two servers (or a server and a worker) never both retry it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from reflector.db.tables import RecordingRow, as_utc, utcnow
from reflector.pipelines.recordings import RecordingDeps, ingest_recording

log = structlog.get_logger(__name__)

MAX_BACKOFF_DOUBLINGS = 10


def next_try(last_try: datetime, attempts: int, retry_seconds: float) -> datetime:
    """When a recording that failed ``attempts`` times, the last at ``last_try``, is due."""
    doublings = min(max(attempts - 1, 0), MAX_BACKOFF_DOUBLINGS)
    return as_utc(last_try) + timedelta(seconds=retry_seconds * 2**doublings)


async def failed_recordings_due(deps: RecordingDeps, limit: int = 20) -> list[str]:
    """Failed recordings with tries left whose wait is over, oldest first. Those without
    files (the platform itself reported the recording failed) have nothing to try again."""
    settings = deps.settings
    now = utcnow()
    async with deps.sessions() as session:
        rows = await session.execute(
            select(
                RecordingRow.id, RecordingRow.attempts, RecordingRow.updated_at, RecordingRow.keys
            )
            .where(
                RecordingRow.status == "error",
                RecordingRow.attempts < settings.recording_max_attempts,
            )
            .order_by(RecordingRow.updated_at)
            .limit(limit * 5)
        )
        due = [
            recording_id
            for recording_id, attempts, updated_at, keys in rows
            if keys and next_try(updated_at, attempts, settings.recording_retry_seconds) <= now
        ]
    return due[:limit]


async def retry_failed_recordings(deps: RecordingDeps, limit: int = 20) -> list[str]:
    """Try the due failed recordings again; returns the transcripts made."""
    made = []
    for recording_id in await failed_recordings_due(deps, limit):
        log.info("recording_retried", recording=recording_id)
        transcript_id = await ingest_recording(deps, recording_id, retry=True)
        if transcript_id:
            made.append(transcript_id)
    return made
