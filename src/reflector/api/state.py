"""What the running server holds: settings, database, blob store, bus and job dispatch.

One explicit object on ``app.state`` rather than module globals, so tests can run several apps
(SQLite and PostgreSQL) in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from reflector.api.voice_services import VoiceServices
from reflector.blobs import BlobStore
from reflector.bus import EventBus
from reflector.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    blobs: BlobStore
    bus: EventBus
    secret_key: bytes
    submit_job: Callable[[str], Any]
    """Hands a job id to whoever runs jobs (the in-process runner or Celery)."""
    voice: VoiceServices
    """Speech recognition and synthesis for the voice endpoints."""
    extras: dict[str, Any] = field(default_factory=dict)
