"""What a job's stages write through: fenced by the job's lease, and patient with blinks.

A worker that lost its lease (it stalled past the lease, the sweep released the job, another
worker claimed it) may still be running a stage. Its writes must not land on top of the new
owner's. So every database transaction a job opens starts with one conditional statement,

    UPDATE jobs SET lease_owner = :me WHERE id = :job AND lease_owner = :me

and stops with :class:`LeaseLost` when it changes no row. The statement also locks the job's
row (PostgreSQL) or the database (SQLite) until the transaction ends, so nobody can take the
lease between the check and the commit: the transaction's other writes are fenced with it. The
same happens when the transcript was permanently deleted (its job row goes with it), which is
how a running job learns that it has nothing left to work for.

Blob writes cannot join a database transaction; :class:`JobBlobs` checks the lease just before
each one (and the runner removes what a job wrote for a deleted transcript). Transient errors
of the store are tried again (:mod:`reflector.pipelines.transient`), as are publications on the
event bus (:class:`JobBus`), which give up quietly: every event a stage emits is stored first,
and clients replay stored events when their subscription comes back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.blobs import BlobInfo, BlobStore
from reflector.bus import EventBus
from reflector.bus.protocol import Message
from reflector.db.tables import JobRow
from reflector.errors import ReflectorError
from reflector.pipelines.transient import RetryBudget, is_transient, retry_transient

log = structlog.get_logger(__name__)

BUS_RETRY = RetryBudget(seconds=3.0, initial_backoff=0.2, max_backoff=1.0)
"""How long one event's publication is tried before it is left to the stored copy."""
BUS_QUIET_SECONDS = 10.0
"""After a publication failed for good, events are not published (only stored) for this long,
so a bus that is down does not slow every event of a stage by :data:`BUS_RETRY`."""


class LeaseLost(ReflectorError):
    """This worker no longer holds the job's lease: another worker took the job over, the job
    was released, or it is gone with its transcript. Nothing more may be written for it."""


class FencedSessions:
    """A session maker whose every transaction first checks (and locks) the job's lease."""

    def __init__(self, sessions: async_sessionmaker, job_id: str, owner: str) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.owner = owner

    def __call__(self) -> AsyncSession:
        session = self.sessions()
        event.listen(session.sync_session, "after_begin", self._fence)
        return session

    def _fence(self, _session: Any, _transaction: Any, connection: Any) -> None:
        # Runs inside the transaction that is beginning, before any statement of its own.
        result = connection.execute(
            update(JobRow)
            .where(JobRow.id == self.job_id, JobRow.lease_owner == self.owner)
            .values(lease_owner=self.owner)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"job {self.job_id} is no longer held by {self.owner}")

    async def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still ours."""
        async with self() as session:
            await session.execute(select(literal(1)))


class JobBlobs:
    """The blob store as a job's stages see it: a transient failure is tried again for the
    job's retry budget, and a write or delete first checks that the job still holds its
    lease (see the module's docstring)."""

    def __init__(
        self, store: BlobStore, budget: RetryBudget, check_lease: Callable[[], Awaitable[None]]
    ) -> None:
        self.store = store
        self.budget = budget
        self.check_lease = check_lease
        self.name = store.name

    def __getattr__(self, name: str) -> Any:
        # Anything else a particular store offers (a presigned URL, ...) is used as it is.
        return getattr(self.store, name)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        await self.check_lease()
        return await retry_transient(
            self.budget, f"upload {key}", lambda: self.store.put_file(key, path, content_type)
        )

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        await self.check_lease()
        return await retry_transient(
            self.budget, f"write {key}", lambda: self.store.put_bytes(key, data, content_type)
        )

    async def get_bytes(self, key: str) -> bytes:
        return await retry_transient(self.budget, f"read {key}", lambda: self.store.get_bytes(key))

    async def download(self, key: str, path: Path) -> Path:
        return await retry_transient(
            self.budget, f"download {key}", lambda: self.store.download(key, path)
        )

    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        return self.store.iter_range(key, start, end, chunk_size)

    async def stat(self, key: str) -> BlobInfo | None:
        return await retry_transient(self.budget, f"stat {key}", lambda: self.store.stat(key))

    async def delete(self, key: str) -> None:
        await self.check_lease()
        await retry_transient(self.budget, f"delete {key}", lambda: self.store.delete(key))

    async def delete_prefix(self, prefix: str) -> int:
        await self.check_lease()
        return await retry_transient(
            self.budget, f"delete {prefix}", lambda: self.store.delete_prefix(prefix)
        )

    async def check(self) -> None:
        await self.store.check()


class JobBus:
    """The event bus as a job's stages see it: a publication is tried again briefly, then left
    to the stored event (the bus carries news; the database keeps every event, and clients
    replay it when they subscribe again, which they do after the bus comes back)."""

    def __init__(self, bus: EventBus, budget: RetryBudget = BUS_RETRY) -> None:
        self.bus = bus
        self.budget = budget
        self.name = bus.name
        self._quiet_until = 0.0
        self.skipped = 0
        """Publications given up on (for logs and tests)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    async def publish(self, channel: str, message: Message) -> None:
        if time.monotonic() < self._quiet_until:
            self.skipped += 1
            return
        try:
            await retry_transient(
                self.budget, f"publish to {channel}", lambda: self.bus.publish(channel, message)
            )
        except Exception as error:
            if not is_transient(error):
                raise
            self.skipped += 1
            self._quiet_until = time.monotonic() + BUS_QUIET_SECONDS
            log.warning(
                "event_not_published",
                channel=channel,
                type=message.get("type"),
                error=str(error),
                quiet_seconds=BUS_QUIET_SECONDS,
            )

    def publish_sync(self, channel: str, message: Message) -> None:
        try:
            self.bus.publish_sync(channel, message)
        except Exception as error:
            if not is_transient(error):
                raise
            self.skipped += 1
            log.warning("event_not_published", channel=channel, error=str(error))
