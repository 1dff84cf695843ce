"""The connections a server or a worker process opens from settings: database, blobs, bus."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from reflector.blobs import BlobStore, make_blob_store
from reflector.bus import make_bus
from reflector.bus.redis import check_redis_url
from reflector.db.engine import make_engine, make_sessionmaker, normalise_url
from reflector.jobs.runner import JobDeps
from reflector.settings import Settings


def check_settings(settings: Settings) -> None:
    """Raise :class:`ValueError` naming the setting if the database, storage or bus settings
    cannot work, before anything is started (nothing is connected or opened here)."""
    normalise_url(settings.resolved_database_url())
    _blob_store(settings)
    if settings.bus_backend == "redis":
        check_redis_url(settings.redis_url)


def _blob_store(settings: Settings) -> BlobStore:
    return make_blob_store(
        settings.storage_backend,
        data_dir=settings.data_dir,
        s3_bucket=settings.s3_bucket,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
    )


def open_resources(settings: Settings, pool_size: int = 10) -> tuple[AsyncEngine, JobDeps]:
    """The database engine (to dispose at shutdown) and what jobs and routes need.

    Raises :class:`ValueError` naming the setting when storage or the bus is misconfigured.
    """
    engine = make_engine(settings.resolved_database_url(), pool_size=pool_size)
    blobs = _blob_store(settings)
    bus = make_bus(settings.bus_backend, redis_url=settings.redis_url)
    return engine, JobDeps(settings, make_sessionmaker(engine), blobs, bus)
