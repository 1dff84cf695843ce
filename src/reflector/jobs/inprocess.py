"""The embedded mode's job runner: a few asyncio workers inside the server process.

Jobs are rows in the database, so on start the runner picks up every job that is queued or whose
worker died (lease expired) — a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy import or_, select

from reflector.db.tables import JobRow, utcnow
from reflector.jobs.runner import JobDeps, run_job, worker_id

log = structlog.get_logger(__name__)


class InProcessRunner:
    def __init__(self, deps: JobDeps, workers: int = 1) -> None:
        self.deps = deps
        self.workers = workers
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.tasks: list[asyncio.Task] = []
        self.owner = worker_id()

    async def start(self) -> None:
        async with self.deps.sessions() as session:
            pending = await session.scalars(
                select(JobRow.id)
                .where(
                    or_(
                        JobRow.status == "queued",
                        (JobRow.status == "running")
                        & or_(JobRow.lease_expires < utcnow(), JobRow.lease_owner == self.owner),
                    )
                )
                .order_by(JobRow.created_at)
            )
            for job_id in pending:
                self.queue.put_nowait(job_id)
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def submit(self, job_id: str) -> None:
        await self.queue.put(job_id)

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
                self.queue.task_done()

    async def join(self) -> None:
        """Wait until every submitted job has run (tests, orderly shutdown)."""
        await self.queue.join()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
