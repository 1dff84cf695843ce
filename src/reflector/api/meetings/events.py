"""What a platform's webhook changes, whichever platform sent it: participants and head counts,
recordings kept for ingestion, automatic recording starts.

Each platform's webhook route verifies and parses the request
(:meth:`~reflector.platforms.base.VideoPlatform.verify_webhook`, ``parse_webhook``), then hands
the event to :func:`apply_event`; a recording to ingest comes back, for the route to ingest
after answering (the platform is not kept waiting while files are copied).
"""

from __future__ import annotations

import uuid

import structlog

from reflector.api.meetings.access import open_platform
from reflector.api.state import AppState
from reflector.db import rooms as db
from reflector.db.tables import MeetingRow, RecordingRow
from reflector.errors import ReflectorError
from reflector.integrations.webhooks import queue_meeting_event
from reflector.pipelines.recordings import RecordingDeps, ingest_recording, store_recording
from reflector.platforms.base import (
    ParticipantJoined,
    ParticipantLeft,
    PlatformEvent,
    RecordingFailed,
    RecordingReady,
)

log = structlog.get_logger(__name__)

AUTOMATIC_START = {"automatic": 1, "automatic-2nd-participant": 2}
"""How many people must be in a recorded meeting before its recording starts by itself."""


def recording_deps(state: AppState) -> RecordingDeps:
    return RecordingDeps(state.settings, state.sessions, state.blobs, state.bus, state.submit_job)


async def apply_event(state: AppState, platform: str, event: PlatformEvent) -> str | None:
    """Record ``event`` from ``platform``; returns the id of a new recording to ingest (with
    :func:`ingest_in_background`), else ``None``. Events of meetings this server did not
    make are ignored."""
    if isinstance(event, RecordingReady):
        row, new = await store_recording(state.sessions, platform, event)
        return row.id if new and row.status == "pending" else None
    async with state.sessions() as session:
        meeting = await db.meeting_by_platform_id(session, platform, event.platform_meeting_id)
        if meeting is None:
            log.info(
                "platform_event_for_unknown_meeting",
                platform=platform,
                meeting=event.platform_meeting_id,
                kind=type(event).__name__,
            )
            return None
        if isinstance(event, ParticipantJoined):
            new = await db.participant_joined(
                session,
                meeting,
                event.participant_id,
                user_id=event.user_id,
                name=event.name,
                at=event.at,
                num_clients=event.num_clients,
            )
            if new:
                # Webhooks: the first join starts the meeting (queued once per meeting).
                await queue_meeting_event(session, meeting, "started")
                await session.commit()
                await _maybe_start_recording(state, meeting)
        elif isinstance(event, ParticipantLeft):
            await db.participant_left(
                session, meeting, event.participant_id, at=event.at, num_clients=event.num_clients
            )
        elif isinstance(event, RecordingFailed):
            await _recording_failed(session, platform, meeting, event)
    return None


async def _maybe_start_recording(state: AppState, meeting: MeetingRow) -> None:
    """Start a cloud recording when the meeting reaches its trigger's head count (exactly, so
    later joins do not start it again). A platform that records by itself, or fails, only
    leaves a log line: the meeting goes on."""
    wanted = AUTOMATIC_START.get(meeting.recording_trigger)
    if meeting.recording_type != "cloud" or wanted is None or meeting.num_clients != wanted:
        return
    if not meeting.platform_meeting_id:
        return
    try:
        async with open_platform(state, meeting.platform) as platform:
            await platform.start_recording(
                meeting.platform_meeting_id,
                "raw-tracks",
                instance_id=str(uuid.UUID(hex=meeting.id)),
            )
        log.info("recording_started", meeting=meeting.id)
    except (ReflectorError, ValueError) as error:
        log.info("recording_not_started", meeting=meeting.id, reason=str(error))


async def _recording_failed(
    session, platform: str, meeting: MeetingRow, event: RecordingFailed
) -> None:
    log.warning("platform_recording_failed", meeting=meeting.id, error=event.error)
    if event.recording_id is None:
        return
    await db.add_recording(
        session,
        RecordingRow(
            platform=platform,
            platform_recording_id=event.recording_id,
            meeting_id=meeting.id,
            status="error",
            error=event.error[:2000],
        ),
    )


async def ingest_in_background(state: AppState, recording_id: str) -> None:
    """Ingest a recording after the webhook was answered (a failure is kept on its row; the
    periodic poll picks up one that a stopped server left ``pending``)."""
    try:
        await ingest_recording(recording_deps(state), recording_id)
    except Exception:
        log.exception("recording_ingest_crashed", recording=recording_id)
