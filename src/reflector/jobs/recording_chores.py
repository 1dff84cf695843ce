"""Periodic recording work, run by the server's housekeeping (in-process jobs) or by
``reflector beat`` (Celery): read Whereby's bucket notifications, retry failed recordings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from reflector.jobs.runner import JobDeps
from reflector.pipelines.recording_retries import retry_failed_recordings
from reflector.pipelines.recordings import RecordingDeps
from reflector.pipelines.whereby_recordings import poll_whereby_queue

log = structlog.get_logger(__name__)


def recording_deps(deps: JobDeps, submit_job: Callable[[str], Awaitable[None]]) -> RecordingDeps:
    return RecordingDeps(deps.settings, deps.sessions, deps.blobs, deps.bus, submit_job)


async def read_whereby_queue(deps: RecordingDeps) -> int:
    """One read of the Whereby queue (nothing without one configured); returns the
    recordings found. A failure is logged: the next round tries again."""
    try:
        report = await poll_whereby_queue(deps)
    except Exception:
        log.exception("whereby_queue_poll_failed")
        return 0
    if report.messages:
        log.info(
            "whereby_queue_read",
            messages=report.messages,
            recorded=len(report.recorded),
            duplicates=report.duplicates,
            malformed=report.malformed,
            failed=report.failed,
        )
    return len(report.recorded)


async def retry_recordings(deps: RecordingDeps) -> int:
    """Retry the failed recordings that are due; returns the transcripts made."""
    try:
        return len(await retry_failed_recordings(deps))
    except Exception:
        log.exception("recording_retries_failed")
        return 0


async def recording_chores(deps: RecordingDeps) -> None:
    """Both, for the in-process housekeeping loop."""
    await read_whereby_queue(deps)
    await retry_recordings(deps)
