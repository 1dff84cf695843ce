"""Run a job's stages, exactly once to completion, wherever the job happens to run.

A worker *claims* a job by taking its lease (owner + expiry) in one conditional UPDATE; only one
worker can hold it. While it works it renews the lease; if it dies, the lease runs out and the
next worker that gets the job (Celery redelivers it: ``acks_late``) claims it and continues after
the last stage recorded as finished. A stage's outputs replace earlier ones, so a stage cut off
half-way simply runs again.

Every write of a job is fenced by its lease (:mod:`reflector.jobs.fencing`): a worker that lost
the lease stops at its next write without touching the new owner's results. An error that
passes (the database, blob store, bus or a remote backend away for a moment) is tried again with
backoff for ``job_retry_seconds``, first the operation, then the whole stage
(:mod:`reflector.pipelines.transient`); only then, or on an error that another try cannot fix,
does the job fail. A job whose transcript was deleted while it ran removes what it wrote.
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
from reflector.db.tables import JobRow, TranscriptRow, utcnow
from reflector.domain.events import ProgressData, ProgressEvent
from reflector.domain.status import TranscriptStatus
from reflector.jobs.fencing import FencedSessions, JobBlobs, JobBus, LeaseLost
from reflector.pipelines.lifecycle import set_status
from reflector.pipelines.registry import STAGE_FUNCTIONS, UnknownPipeline, pipeline_stages
from reflector.pipelines.stages import JobOptions, StageContext, StageFailed, new_workdir
from reflector.pipelines.transient import RetryBudget, is_transient, retry_transient, retrying
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


Outcome = Literal["done", "failed", "busy", "missing", "partial", "lost"]
"""``lost``: another worker took the job over while this one ran it."""


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
        try:
            async with deps.sessions() as session:
                result = await session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                    .values(lease_expires=utcnow() + _lease(deps))
                )
                await session.commit()
        except Exception as error:
            # The database blinked: the next renewal comes a quarter of a lease later.
            log.warning("lease_not_renewed", job=job_id, error=f"{type(error).__name__}: {error}")
            continue
        if result.rowcount != 1:
            # Taken over or gone: the job's next write finds out and stops (fencing).
            log.warning("lease_lost", job=job_id, worker=owner)
            return


def _budget(deps: JobDeps) -> RetryBudget:
    return RetryBudget(seconds=deps.settings.job_retry_seconds)


async def _set(deps: JobDeps, job_id: str, owner: str, *, retry: bool = True, **values) -> None:
    """Write the job's row, only while ``owner`` holds its lease (else :class:`LeaseLost`);
    tried again on transient errors unless ``retry`` is false."""

    async def write() -> None:
        async with deps.sessions() as session:
            result = await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                .values(**values)
            )
            await session.commit()
        if result.rowcount != 1:
            raise LeaseLost(f"job {job_id} is no longer held by {owner}")

    budget = _budget(deps) if retry else RetryBudget(seconds=0.0)
    await retry_transient(budget, "update the job", write)


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
    budget = _budget(deps)
    job = await retry_transient(budget, "claim the job", lambda: _claim(deps, job_id, owner))
    if job is None:
        status = await retry_transient(budget, "read the job", lambda: job_status(deps, job_id))
        if status is None:
            return "missing"
        return "busy" if status in ("queued", "running") else status  # type: ignore[return-value]
    user_id = await retry_transient(budget, "read the transcript", lambda: _owner_of(deps, job))
    if user_id is None:  # deleted between the claim and now
        await _remove_outputs(deps, job.transcript_id)
        return "missing"
    workdir = new_workdir(deps.settings, job.id)
    sessions = FencedSessions(deps.sessions, job.id, owner)
    context = StageContext(
        transcript_id=job.transcript_id,
        user_id=user_id,
        options=JobOptions.from_dict(job.options),
        settings=deps.settings,
        sessions=sessions,  # type: ignore[arg-type]  (used like a session maker)
        blobs=JobBlobs(deps.blobs, budget, sessions.check),
        bus=JobBus(deps.bus),
        workdir=workdir,
        retry=budget,
    )
    done = list(job.stages_done)
    # Where the previous holder was when it stopped: a stage started and not finished.
    interrupted = job.current_stage if job.current_stage not in (None, *done) else None
    stage_attempts = job.stage_attempts
    renewer = asyncio.create_task(_renew(deps, job.id, owner))
    try:
        for stage in pipeline_stages(job.pipeline):
            if stage in done:
                continue
            if stages is not None and stage not in stages:
                await _set(deps, job.id, owner, lease_owner=None, lease_expires=None)
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
                return await _fail(deps, context, job.id, owner, message)
            await _set(deps, job.id, owner, current_stage=stage, stage_attempts=stage_attempts)
            await context.emit(ProgressEvent(data=ProgressData(stage=stage)))
            log.info("stage_started", job=job.id, stage=stage, worker=owner)
            await _run_stage(context, stage)
            done = [*done, stage]
            await _set(deps, job.id, owner, stages_done=done)
            log.info("stage_finished", job=job.id, stage=stage)
        await _set(
            deps,
            job.id,
            owner,
            status="done",
            current_stage=None,
            lease_owner=None,
            lease_expires=None,
            finished_at=utcnow(),
        )
        return "done"
    except LeaseLost:
        return await _lease_lost(deps, job.id, job.transcript_id, owner)
    except (StageFailed, UnknownPipeline) as error:
        return await _fail(deps, context, job.id, owner, str(error))
    except asyncio.CancelledError:
        # Shutting down in order: not a crash, so the stage's start is not held against the
        # job (its next start is a first attempt). The lease is kept until it runs out, or
        # until this installation's next runner takes the job over at once.
        with contextlib.suppress(Exception):
            await asyncio.shield(_set(deps, job.id, owner, retry=False, stage_attempts=0))
        raise
    except Exception as error:
        log.exception("stage_crashed", job=job.id)
        message = f"{type(error).__name__}: {error}"
        if is_transient(error):
            message = f"still failing after retrying for {budget.seconds:.0f} s: {message}"
        return await _fail(deps, context, job.id, owner, message)
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        shutil.rmtree(workdir, ignore_errors=True)


async def _run_stage(context: StageContext, stage: str) -> None:
    """The stage, run again whole while it fails for a transient reason (within the budget):
    its operations retry on their own; this catches what fails between them."""
    async for attempt in retrying(context.retry, f"stage {stage}"):
        with attempt:
            await STAGE_FUNCTIONS[stage](context)


async def _owner_of(deps: JobDeps, job: JobRow) -> str | None:
    async with deps.sessions() as session:
        row = await session.get(TranscriptRow, job.transcript_id)
        return row.user_id if row is not None else None


async def _remove_outputs(deps: JobDeps, transcript_id: str) -> None:
    """What a job wrote for a transcript that was permanently deleted meanwhile: the delete
    removed what was there then; this removes what came after."""
    removed = await retry_transient(
        _budget(deps),
        "remove a deleted transcript's blobs",
        lambda: deps.blobs.delete_prefix(f"transcripts/{transcript_id}/"),
    )
    log.info("deleted_transcript_outputs_removed", transcript=transcript_id, blobs=removed)


async def _lease_lost(deps: JobDeps, job_id: str, transcript_id: str, owner: str) -> Outcome:
    """Stop without writing: the job went with its transcript (then remove what this worker
    wrote for it), or another worker holds it now."""

    async def transcript_exists() -> bool:
        async with deps.sessions() as session:
            return await session.get(TranscriptRow, transcript_id) is not None

    if not await retry_transient(_budget(deps), "read the transcript", transcript_exists):
        log.warning("job_transcript_deleted", job=job_id, transcript=transcript_id)
        await _remove_outputs(deps, transcript_id)
        return "missing"
    log.warning("job_lease_lost", job=job_id, worker=owner)
    return "lost"


async def _fail(
    deps: JobDeps, context: StageContext, job_id: str, owner: str, message: str
) -> Outcome:
    """End the job and its transcript with ``message``, if this worker still holds the job:
    the job first (so nothing runs it again), then the transcript's status (fenced, so the
    lease is released last)."""
    try:
        await _set(deps, job_id, owner, status="failed", error=message, finished_at=utcnow())
        tid, error = context.transcript_id, TranscriptStatus.ERROR
        await retry_transient(
            context.retry,
            "mark the transcript failed",
            lambda: set_status(context.sessions, context.bus, tid, error, message),
        )
        await _set(deps, job_id, owner, lease_owner=None, lease_expires=None)
    except LeaseLost:
        return await _lease_lost(deps, job_id, context.transcript_id, owner)
    return "failed"
