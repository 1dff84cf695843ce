"""What the live sessions of one app share while it runs: the models' preloading, the open
WebRTC peers, the wrap-ups in flight and the translation chains. Held on the app's state, never
in module globals, so several apps can run in one process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reflector.api.live.translation import LiveTranslation
    from reflector.api.live.webrtc import LivePeer


@dataclass
class LiveModels:
    """The background loading of the models live sessions share (see ``/readyz``)."""

    preload: asyncio.Task[None] | None = None

    def status(self) -> str:
        """``off`` (not preloaded), ``loading``, ``ready``, or ``error: <why>``."""
        task = self.preload
        if task is None or task.cancelled():
            return "off"
        if not task.done():
            return "loading"
        error = task.exception()
        return "ready" if error is None else f"error: {error}"[:300]


@dataclass
class LiveRuntime:
    models: LiveModels = field(default_factory=LiveModels)
    peers: set[LivePeer] = field(default_factory=set)
    """Open WebRTC connections, closed at shutdown."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Sessions' wrap-ups (storing audio, queueing its job), awaited at shutdown."""
    translations: dict[str, LiveTranslation] = field(default_factory=dict)
    """The translation chain of each live transcript that has one, by transcript id."""
    recording: set[str] = field(default_factory=set)
    """Transcripts whose stream runs in this process (never taken for a gone server's)."""
    watcher: asyncio.Task[None] | None = None
    """Looks for streams whose server is gone and processes their stored audio."""
    deleted: dict[str, asyncio.Event] = field(default_factory=dict)
    """For each stream of this process, set when its transcript is deleted for good: the
    stream ends, and nothing it received is kept."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at shutdown: the watcher ends between two sweeps (see ``reflector.shutdown``)."""

    def transcript_deleted(self, transcript_id: str) -> None:
        """End the stream of ``transcript_id`` here, if it has one (a permanent delete)."""
        signal = self.deleted.get(transcript_id)
        if signal is not None:
            signal.set()
