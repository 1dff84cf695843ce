"""The embedded mode's job runner: a few asyncio workers inside the server process.

Jobs are rows in the database, so on start the runner picks up every job that is queued, and
every job that was running when this installation's server stopped, at once, whatever its
lease: a restart loses nothing and waits for nothing. A job held by a runner on another machine
is taken over when its lease runs out; a housekeeping loop looks for those (and removes
abandoned uploads) every ``job_sweep_seconds``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update

from reflector.blobs.staging import UploadStaging
from reflector.db.tables import JobRow, utcnow
from reflector.integrations.tasks import run_due as run_integrations
from reflector.integrations.webhooks.sender import run_sender as run_webhook_sender
from reflector.jobs.housekeeping import expire_uploads
from reflector.jobs.recording_chores import recording_chores, recording_deps
from reflector.jobs.recovery import ACTIVE_STATUSES
from reflector.jobs.runner import JobDeps, run_job, worker_id
from reflector.pipelines.recordings import poll_recordings
from reflector.pipelines.registry import PIPELINES
from reflector.shutdown import finish_or_cancel, wait_for_event

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 30.0
"""How long a stop waits for a periodic round in progress (a calendar fetch, a queue poll,
webhook deliveries in flight, each bounded by its own timeouts) before cancelling it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _logging_failure(event: str, chore: Coroutine[Any, Any, None]) -> None:
    """Run one housekeeping ``chore``; a failure is logged as ``event`` and the sweep goes on
    with the next chore (the database may be away for a moment: the next sweep tries again)."""
    try:
        await chore
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(event)


def previous_process(owner: str | None, me: str) -> bool:
    """Whether a lease ``owner`` (``host:pid``) is a runner of this machine that is gone: the
    server process that ran before this one (its pid may even be ours, in a container)."""
    if owner is None:
        return False
    if owner == me:
        return True
    host, _, pid = owner.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not _pid_alive(int(pid))


class InProcessRunner:
    def __init__(self, deps: JobDeps, workers: int = 1) -> None:
        self.deps = deps
        self.workers = workers
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.tasks: list[asyncio.Task] = []
        self.owner = worker_id()
        self._queued: set[str] = set()
        """Jobs in the queue or running here, so a sweep does not queue one twice."""
        self._recordings_polled = float("-inf")
        """When (monotonic seconds) the platforms were last asked for recent recordings."""
        self._stop = asyncio.Event()
        """Set by :meth:`stop`: the periodic loops end between two rounds (see ``shutdown``)."""
        self._periodic: list[asyncio.Task] = []

    async def start(self) -> None:
        for job_id in await self._jobs_to_resume():
            self._enqueue(job_id)
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        self._periodic = [
            asyncio.create_task(self._housekeeping()),
            # Webhook deliveries: a loop of their own, since they are due within a second.
            asyncio.create_task(
                run_webhook_sender(self.deps.sessions, self.deps.settings, self._stop)
            ),
        ]

    async def _jobs_to_resume(self) -> list[str]:
        """Queued jobs, and running ones that no live runner holds; the leases of this
        machine's previous server process are released, so they can be claimed now."""
        async with self.deps.sessions() as session:
            rows = (
                await session.execute(
                    select(JobRow.id, JobRow.status, JobRow.lease_owner, JobRow.lease_expires)
                    .where(
                        JobRow.pipeline.in_(tuple(PIPELINES)), JobRow.status.in_(ACTIVE_STATUSES)
                    )
                    .order_by(JobRow.created_at)
                )
            ).all()
            now = utcnow()
            pending: list[str] = []
            for job_id, status, owner, expires in rows:
                if status == "queued" or owner is None:
                    pending.append(job_id)
                elif previous_process(owner, self.owner):
                    # Conditional on the same owner: never take a lease someone renewed.
                    await session.execute(
                        update(JobRow)
                        .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                        .values(lease_owner=None, lease_expires=None)
                    )
                    log.info("job_taken_over", job=job_id, previous_owner=owner)
                    pending.append(job_id)
                elif expires is not None and _as_aware(expires) < now:
                    pending.append(job_id)
            await session.commit()
        return pending

    def _enqueue(self, job_id: str) -> None:
        if job_id not in self._queued:
            self._queued.add(job_id)
            self.queue.put_nowait(job_id)

    async def submit(self, job_id: str) -> None:
        self._enqueue(job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self.queue.get()
            try:
                outcome = await run_job(self.deps, job_id, self.owner)
                log.info("job_finished", job=job_id, outcome=outcome)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job_runner_error", job=job_id)
            finally:
                self._queued.discard(job_id)
                self.queue.task_done()

    async def _housekeeping(self) -> None:
        settings = self.deps.settings
        staging = UploadStaging.in_data_dir(settings.data_dir)
        while not await wait_for_event(self._stop, settings.job_sweep_seconds):
            await _logging_failure("housekeeping_failed", self._sweep(staging))
            await _logging_failure("recording_poll_failed", self._poll_recordings())
            # Zulip posts and summary emails that are due; room calendars that are due.
            await _logging_failure(
                "integrations_failed",
                run_integrations(self.deps.sessions, self.deps.blobs, settings),
            )

    async def _sweep(self, staging: UploadStaging) -> None:
        """Jobs nobody runs any more queued again, abandoned uploads removed, and the
        recordings' chores: Whereby's bucket notifications, failed recordings tried again (each
        logs its own failures, so one cannot stop the other)."""
        for job_id in await self._expired_jobs():
            log.warning("job_requeued", job=job_id)
            self._enqueue(job_id)
        settings = self.deps.settings
        await expire_uploads(self.deps.sessions, staging, settings.upload_expiry_seconds)
        await recording_chores(recording_deps(self.deps, self.submit))

    async def _poll_recordings(self) -> None:
        """Daily's recent recordings (a webhook may have been lost) and recordings left
        pending, every ``recording_poll_seconds``."""
        if time.monotonic() - self._recordings_polled >= self.deps.settings.recording_poll_seconds:
            self._recordings_polled = time.monotonic()
            await poll_recordings(recording_deps(self.deps, self.submit))

    async def _expired_jobs(self) -> list[str]:
        """Running jobs that nobody holds (their lease ran out or was given back), and queued
        jobs that never reached a runner (their request failed after creating them)."""
        async with self.deps.sessions() as session:
            rows = await session.scalars(
                select(JobRow.id).where(
                    JobRow.pipeline.in_(tuple(PIPELINES)),
                    or_(
                        and_(
                            JobRow.status == "running",
                            or_(JobRow.lease_owner.is_(None), JobRow.lease_expires < utcnow()),
                        ),
                        and_(JobRow.status == "queued", JobRow.lease_owner.is_(None)),
                    ),
                )
            )
            return [job_id for job_id in rows if job_id not in self._queued]

    async def join(self) -> None:
        """Wait until every submitted job has run (tests, orderly shutdown)."""
        await self.queue.join()

    async def stop(self) -> None:
        """Stop the periodic loops between two rounds (cancelled only when a round outlasts
        ``STOP_GRACE_SECONDS``) and cancel the workers (a job is resumed at the next start)."""
        self._stop.set()
        await finish_or_cancel(self._periodic, STOP_GRACE_SECONDS)
        await finish_or_cancel(self.tasks, 0.0)


def _as_aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes (stored in UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
