"""Chores that keep an installation tidy: abandoned uploads are removed after a while.

Run by the in-process runner's housekeeping, by ``reflector beat`` (the ``expire-uploads``
entry) and by each API server when an upload is opened. Staged bytes live on the disk of the
API server that received them, so whoever marks an upload expired removes what it can see,
and every sweep also removes staged files left without an open upload (expired elsewhere,
finished, or gone with a deleted transcript) once they are old enough.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.blobs.staging import UploadStaging
from reflector.db.tables import UploadRow, utcnow

log = structlog.get_logger(__name__)


def _stale(cutoff):
    return (UploadRow.status == "open") & (UploadRow.updated_at < cutoff)


async def expire_uploads(
    sessions: async_sessionmaker, staging: UploadStaging, max_age: float, limit: int = 500
) -> int:
    """Mark ``expired`` every open upload untouched for ``max_age`` seconds and delete its
    bytes, and chunk files a crashed server left behind; returns how many uploads expired."""
    cutoff = utcnow() - timedelta(seconds=max_age)
    expired: list[str] = []
    async with sessions() as session:
        candidates = (
            await session.scalars(select(UploadRow.id).where(_stale(cutoff)).limit(limit))
        ).all()
        for upload_id in candidates:
            # Conditional: a chunk that arrived meanwhile keeps the upload alive.
            result = await session.execute(
                update(UploadRow)
                .where(UploadRow.id == upload_id, _stale(cutoff))
                .values(status="expired")
            )
            if result.rowcount == 1:
                expired.append(upload_id)
        await session.commit()
    for upload_id in expired:
        await asyncio.to_thread(staging.remove, upload_id)
    await asyncio.to_thread(staging.remove_stale_chunks, max_age)
    await _remove_orphaned_parts(sessions, staging, max_age)
    if expired:
        log.info("uploads_expired", count=len(expired))
    return len(expired)


async def _remove_orphaned_parts(
    sessions: async_sessionmaker, staging: UploadStaging, max_age: float
) -> int:
    """Staged files untouched for ``max_age`` seconds whose upload is not open any more."""
    stale = await asyncio.to_thread(staging.stale_uploads, max_age)
    if not stale:
        return 0
    async with sessions() as session:
        still_open = set(
            await session.scalars(
                select(UploadRow.id).where(UploadRow.id.in_(stale), UploadRow.status == "open")
            )
        )
    orphans = [upload_id for upload_id in stale if upload_id not in still_open]
    for upload_id in orphans:
        await asyncio.to_thread(staging.remove, upload_id)
    if orphans:
        log.info("staged_uploads_removed", count=len(orphans))
    return len(orphans)
