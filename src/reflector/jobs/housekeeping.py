"""Chores that keep an installation tidy: abandoned uploads are removed after a while."""

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
    if expired:
        log.info("uploads_expired", count=len(expired))
    return len(expired)
