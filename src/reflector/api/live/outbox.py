"""A live session's events, stored and published without ever stopping the session.

Decoding must go on while the database or the bus blinks. Events to keep (final words, live
topics) wait here, in order, until the database takes them; each is published once stored.
Passing news (interim words) is published or, when the bus is away, dropped: the next update
replaces it. Every failure is logged; none reaches the session.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.bus import EventBus
from reflector.db import repository
from reflector.domain.events import TranscriptEvent
from reflector.pipelines.publish import publish_transcript_event

log = structlog.get_logger(__name__)

RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Waits between tries to store waiting events while draining (the last one repeats)."""


class LiveOutbox:
    """Stores and publishes one live transcript's events; never raises."""

    def __init__(self, sessions: async_sessionmaker, bus: EventBus, transcript_id: str) -> None:
        self.sessions = sessions
        self.bus = bus
        self.transcript_id = transcript_id
        self._waiting: deque[TranscriptEvent] = deque()
        self._lock = asyncio.Lock()

    @property
    def waiting(self) -> int:
        """Events not stored yet."""
        return len(self._waiting)

    async def keep(self, event: TranscriptEvent) -> None:
        """Store ``event`` after those still waiting, then publish it (now, or once the
        database is back: a later call or :meth:`drain` stores it)."""
        self._waiting.append(event)
        await self.flush()

    async def send(self, event: TranscriptEvent) -> None:
        """Publish passing news without storing it; lost if the bus is away."""
        try:
            await publish_transcript_event(self.bus, self.transcript_id, event)
        except Exception as error:
            log.warning(
                "live_publish_failed", transcript=self.transcript_id, error=str(error)[:300]
            )

    async def flush(self) -> bool:
        """Store (and publish) the waiting events in order; whether none is left."""
        async with self._lock:
            while self._waiting:
                event = self._waiting[0]
                try:
                    async with self.sessions() as session:
                        row = await repository.add_event(session, self.transcript_id, event)
                        await session.commit()
                except Exception as error:
                    log.warning(
                        "live_event_store_failed",
                        transcript=self.transcript_id,
                        waiting=len(self._waiting),
                        error=str(error)[:300],
                    )
                    return False
                self._waiting.popleft()
                await self.send(event.model_copy(update={"id": row.id}))
            return True

    async def drain(self, timeout: float) -> bool:
        """Try to store what waits until it is all stored or ``timeout`` seconds have passed;
        whether everything was stored."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in itertools.count():
            if await self.flush():
                return True
            wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
            if loop.time() + wait > deadline:
                break
            await asyncio.sleep(wait)
        log.error("live_events_lost", transcript=self.transcript_id, count=len(self._waiting))
        return False
