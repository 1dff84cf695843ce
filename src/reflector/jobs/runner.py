"""Run a job's stages, exactly once to completion, wherever the job happens to run.

A worker *claims* a job by taking its lease (owner + expiry) in one conditional UPDATE; only one
worker can hold it. While it works it renews the lease; if it dies, the lease runs out and the
next worker that gets the job (Celery redelivers it: ``acks_late``) claims it and continues after
the last stage recorded as finished. A stage's outputs replace earlier ones, so a stage cut off
half-way simply runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import structlog
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.blobs import BlobStore
from reflector.bus import EventBus
from reflector.db import repository
from reflector.db.tables import JobRow, utcnow
from reflector.domain.events import ProgressData, ProgressEvent
from reflector.domain.status import TranscriptStatus
from reflector.pipelines.lifecycle import set_status
from reflector.pipelines.publish import emit
from reflector.pipelines.stages import (
    FILE_STAGES,
    STAGE_FUNCTIONS,
    JobOptions,
    StageContext,
    StageFailed,
    new_workdir,
)
from reflector.settings import Settings

log = structlog.get_logger(__name__)

RENEWALS_PER_LEASE = 4
"""A lease is renewed this many times per lease duration (``job_lease_seconds``), so one late
renewal (a slow database, a long pause of the process) does not lose it."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class JobDeps:
    settings: Settings
    sessions: async_sessionmaker
    blobs: BlobStore
    bus: EventBus


Outcome = Literal["done", "failed", "busy", "missing", "partial"]


def _lease(deps: JobDeps) -> timedelta:
    return timedelta(seconds=deps.settings.job_lease_seconds)


async def _claim(deps: JobDeps, job_id: str, owner: str) -> JobRow | None:
    """Take the job's lease if it is free, expired or already ours; ``None`` if not."""
    now = utcnow()
    async with deps.sessions() as session:
        result = await session.execute(
            update(JobRow)
            .where(
                JobRow.id == job_id,
                JobRow.status.in_(("queued", "running")),
                or_(
                    JobRow.lease_owner.is_(None),
                    JobRow.lease_owner == owner,
                    JobRow.lease_expires < now,
                ),
            )
            .values(
                status="running",
                lease_owner=owner,
                lease_expires=now + _lease(deps),
                attempts=JobRow.attempts + 1,
            )
        )
        await session.commit()
        if result.rowcount != 1:
            return None
        return await session.get(JobRow, job_id)


async def _renew(deps: JobDeps, job_id: str, owner: str) -> None:
    while True:
        await asyncio.sleep(deps.settings.job_lease_seconds / RENEWALS_PER_LEASE)
        async with deps.sessions() as session:
            await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                .values(lease_expires=utcnow() + _lease(deps))
            )
            await session.commit()


async def _set(deps: JobDeps, job_id: str, **values) -> None:
    async with deps.sessions() as session:
        await session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))
        await session.commit()


async def job_status(deps: JobDeps, job_id: str) -> str | None:
    async with deps.sessions() as session:
        job = await session.get(JobRow, job_id)
        return job.status if job else None


async def run_job(
    deps: JobDeps,
    job_id: str,
    owner: str | None = None,
    stages: Sequence[str] | None = None,
) -> Outcome:
    """Run the job's remaining stages (only those in ``stages``, when given).

    Returns ``busy`` when another live worker holds the job, ``partial`` when the given stages
    are done but others remain, ``done`` or ``failed`` at the end.
    """
    owner = owner or worker_id()
    job = await _claim(deps, job_id, owner)
    if job is None:
        status = await job_status(deps, job_id)
        if status is None:
            return "missing"
        return "busy" if status in ("queued", "running") else status  # type: ignore[return-value]
    async with deps.sessions() as session:
        row = await repository.get_transcript(session, job.transcript_id, None)
        user_id = row.user_id
    workdir = new_workdir(deps.settings, job.id)
    context = StageContext(
        transcript_id=job.transcript_id,
        user_id=user_id,
        options=JobOptions.from_dict(job.options),
        settings=deps.settings,
        sessions=deps.sessions,
        blobs=deps.blobs,
        bus=deps.bus,
        workdir=workdir,
    )
    done = list(job.stages_done)
    # Where the previous holder was when it stopped: a stage started and not finished.
    interrupted = job.current_stage if job.current_stage not in (None, *done) else None
    stage_attempts = job.stage_attempts
    renewer = asyncio.create_task(_renew(deps, job.id, owner))
    try:
        for stage in FILE_STAGES:
            if stage in done:
                continue
            if stages is not None and stage not in stages:
                await _set(deps, job.id, lease_owner=None, lease_expires=None)
                return "partial"
            stage_attempts = stage_attempts + 1 if stage == interrupted else 1
            interrupted = None
            limit = deps.settings.job_max_attempts
            if stage_attempts > limit:
                # Its worker died in this stage every time (killed, out of memory, a crash
                # in native code): running it again would only take the next worker down.
                message = (
                    f"gave up after {limit} attempts: the worker stopped during the "
                    f"{stage} stage each time (crashed, killed or out of memory)"
                )
                log.error("job_gave_up", job=job.id, stage=stage, attempts=limit)
                await _fail(deps, job.id, job.transcript_id, message)
                return "failed"
            await _set(deps, job.id, current_stage=stage, stage_attempts=stage_attempts)
            progress = ProgressEvent(data=ProgressData(stage=stage))
            await emit(deps.sessions, deps.bus, job.transcript_id, progress)
            log.info("stage_started", job=job.id, stage=stage, worker=owner)
            await STAGE_FUNCTIONS[stage](context)
            done = [*done, stage]
            await _set(deps, job.id, stages_done=done)
            log.info("stage_finished", job=job.id, stage=stage)
        await _set(
            deps,
            job.id,
            status="done",
            current_stage=None,
            lease_owner=None,
            lease_expires=None,
            finished_at=utcnow(),
        )
        return "done"
    except StageFailed as error:
        await _fail(deps, job.id, job.transcript_id, str(error))
        return "failed"
    except asyncio.CancelledError:
        # Shutting down in order: not a crash, so the stage's start is not held against the
        # job (its next start is a first attempt). The lease is kept until it runs out, or
        # until this installation's next runner takes the job over at once.
        with contextlib.suppress(Exception):
            await asyncio.shield(_set(deps, job.id, stage_attempts=0))
        raise
    except Exception as error:
        log.exception("stage_crashed", job=job.id)
        await _fail(deps, job.id, job.transcript_id, f"{type(error).__name__}: {error}")
        return "failed"
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        shutil.rmtree(workdir, ignore_errors=True)


async def _fail(deps: JobDeps, job_id: str, transcript_id: str, message: str) -> None:
    await _set(
        deps,
        job_id,
        status="failed",
        error=message,
        lease_owner=None,
        lease_expires=None,
        finished_at=utcnow(),
    )
    await set_status(deps.sessions, deps.bus, transcript_id, TranscriptStatus.ERROR, message)
