"""What the running server holds: settings, database, blob store, bus and job dispatch.

One explicit object on ``app.state`` rather than module globals, so tests can run several apps
(SQLite and PostgreSQL) in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from reflector.api.live.runtime import LiveRuntime
from reflector.api.rate_limits import RateLimiter
from reflector.api.voice.services import VoiceServices
from reflector.blobs import BlobStore
from reflector.bus import EventBus
from reflector.settings import Settings

if TYPE_CHECKING:
    from reflector.api.oidc import OidcProvider
    from reflector.jobs.inprocess import InProcessRunner


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
    runner: InProcessRunner | None = None
    """The in-process job runner, when jobs run in the server (not with Celery)."""
    live: LiveRuntime = field(default_factory=LiveRuntime)
    """What live sessions share: model preloading, WebRTC peers, wrap-ups, translations."""
    rate_limiter: RateLimiter = field(default_factory=RateLimiter.off)
    """Sign-in, API-key and heavy-work limits (``api.rate_limits``), made at start."""
    oidc: OidcProvider | None = None
    """The OpenID Connect issuer people sign in at (``api.oidc``), when one is set."""
    uploads_swept_at: float | None = None
    """When (monotonic seconds) this server last removed expired uploads from its disk."""
    room_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    """One lock per room name, so that people opening a room at once in this server get one
    meeting (the database row lock does the same across servers on PostgreSQL)."""
