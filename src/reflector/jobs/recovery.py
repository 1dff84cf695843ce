"""Which stage a job needs next, and which jobs no worker is working on.

In the distributed mode a job lives in two places: its row in the database (the truth: stages
done, lease) and a message in the broker (the nudge that makes a worker look at it). The broker
can lose the nudge — a worker killed while holding an unacknowledged message (Redis gives it back
only after its visibility timeout, an hour by default), a broker restarted without persistence,
a crash between two stages. :func:`take_orphans` finds the rows whose nudge may be gone so that
``reflector beat`` can send a new one. A duplicate nudge is harmless: the lease lets one worker
in, and finished stages are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.db.tables import JobRow, utcnow
from reflector.pipelines.registry import PIPELINES

ACTIVE_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class OrphanJob:
    job_id: str
    next_stage: str
    """See :func:`next_stage`."""


def next_stage(stages_done: Sequence[str], pipeline: str = "file") -> str:
    """The first stage of ``pipeline`` not in ``stages_done``.

    With every stage done the last one is named: running it again only marks the job done
    (the runner skips finished stages), which a worker that died at the very end left undone.
    """
    stages = PIPELINES[pipeline]
    return next((stage for stage in stages if stage not in stages_done), stages[-1])


async def pending_stage(sessions: async_sessionmaker, job_id: str) -> str | None:
    """The job's :func:`next_stage`, or ``None`` when the job is missing or over."""
    async with sessions() as session:
        job = await session.get(JobRow, job_id)
        if job is None or job.status not in ACTIVE_STATUSES:
            return None
        return next_stage(job.stages_done, job.pipeline)


def _orphaned(requeue_after: float):
    now = utcnow()
    return and_(
        JobRow.pipeline.in_(tuple(PIPELINES)),
        JobRow.status.in_(ACTIVE_STATUSES),
        or_(
            # Its worker stopped renewing the lease: it died or lost the database.
            JobRow.lease_expires < now,
            # Nobody holds it (queued, or between two stages) and nobody took it for a long
            # time: its message may be gone. The wait keeps a long queue from being doubled.
            and_(
                JobRow.lease_owner.is_(None),
                JobRow.updated_at < now - timedelta(seconds=requeue_after),
            ),
        ),
    )


async def take_orphans(
    sessions: async_sessionmaker, requeue_after: float, limit: int = 100
) -> list[OrphanJob]:
    """Jobs to send to the workers again, each released so that the next worker can claim it.

    Releasing (no owner, ``updated_at`` now) also means a job is returned at most once per
    ``requeue_after`` seconds while its new message waits in a busy queue. Each row is taken
    with a conditional UPDATE, so two schedulers running by mistake do not both return it.
    """
    async with sessions() as session:
        candidates = (
            await session.scalars(
                select(JobRow.id)
                .where(_orphaned(requeue_after))
                .order_by(JobRow.created_at)
                .limit(limit)
            )
        ).all()
        taken: list[OrphanJob] = []
        for job_id in candidates:
            result = await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, _orphaned(requeue_after))
                .values(lease_owner=None, lease_expires=None, updated_at=utcnow())
                .returning(JobRow.stages_done, JobRow.pipeline)
            )
            taken_row = result.one_or_none()
            if taken_row is not None:
                stages_done, pipeline = taken_row
                taken.append(OrphanJob(job_id, next_stage(stages_done, pipeline)))
        await session.commit()
    return taken
