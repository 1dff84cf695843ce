"""One live stream as an asyncio object: audio in, updates out, decoding off the event loop.

Audio pieces go into a bounded queue. The streaming transcriber's two lanes run in threads of
their own: each piece goes through the quick lane (voice detection, a look at a starting
utterance) while the slow lane (a regular decode with its speaker labels) may still be running
on earlier audio, so the first words of a reply never wait for it. When decoding falls behind,
queued pieces are merged into one push, taken with both lanes in turn (the transcriber then
decodes less often), instead of the queue growing without bound, and the session says it is
degraded. Every update carries latency measurements: when the audio holding a word arrived,
and when the word was shown.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from reflector.audio import SAMPLE_RATE
from reflector.live.speakers import one_torch_thread_here
from reflector.live.streaming import LiveUpdate, StreamingTranscriber

MAX_QUEUED_SECONDS = 2.0
"""Audio waiting for the decoder beyond this is merged into one piece."""

_LIVE_THREADS = ThreadPoolExecutor(
    max_workers=64, thread_name_prefix="live", initializer=one_torch_thread_here
)
"""Two threads per session at most: live work never waits for other work's threads (asyncio's
default pool has only a handful on a small machine), nor other work for it. Their voice prints
run on one OpenMP thread each."""

T = TypeVar("T")


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_LIVE_THREADS, function, *args)


@dataclass(frozen=True)
class TimedLiveUpdate:
    update: LiveUpdate
    final_delays: list[float]
    """Per final word: seconds from the arrival of the audio holding its end to now."""
    first_word_delay: float | None = None
    """For the first words after a silence: seconds since the speech's audio arrived."""


@dataclass
class _Arrivals:
    """When each second of audio arrived (wall clock), to measure delays in the server."""

    audio_ends: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)

    def add(self, audio_end: float, wall: float) -> None:
        self.audio_ends.append(audio_end)
        self.walls.append(wall)

    def arrival_of(self, audio_time: float) -> float | None:
        index = bisect.bisect_left(self.audio_ends, audio_time - 1e-6)
        return self.walls[index] if index < len(self.walls) else None


class LiveSession:
    """Runs ``transcriber`` on audio pushed with :meth:`feed`; ``on_update`` gets the results."""

    def __init__(
        self,
        transcriber: StreamingTranscriber,
        on_update: Callable[[TimedLiveUpdate], Awaitable[None]],
        keep_audio: bool = True,
    ) -> None:
        self.transcriber = transcriber
        self.on_update = on_update
        self.keep_audio = keep_audio
        """Whether :meth:`recording` has the audio (off where the caller keeps it itself)."""
        self.audio: list[np.ndarray] = []
        """Everything received, kept for the recording."""
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._queued_samples = 0
        self._arrivals = _Arrivals()
        self._received = 0
        self._showing = False
        self._worker = asyncio.create_task(self._run())
        self._behind = False
        """Audio piled up while decoding: updates say ``degraded`` until it catches up."""

    @property
    def received_seconds(self) -> float:
        return self._received / SAMPLE_RATE

    def recording(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)

    async def feed(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if self.keep_audio:
            self.audio.append(samples)
        self._received += len(samples)
        self._arrivals.add(self.received_seconds, time.monotonic())
        self._queued_samples += len(samples)
        await self._queue.put(samples)

    async def close(self) -> None:
        """No more audio: finish decoding and deliver the last (all final) updates."""
        await self._queue.put(None)
        await self._worker

    async def _next_piece(self) -> np.ndarray | None:
        piece = await self._queue.get()
        if piece is None:
            return None
        self._behind = self._queued_samples / SAMPLE_RATE > MAX_QUEUED_SECONDS
        if self._behind:
            # Behind real time: take everything waiting in one go.
            pieces = [piece]
            while not self._queue.empty():
                extra = self._queue.get_nowait()
                if extra is None:
                    self._queue.put_nowait(None)
                    break
                pieces.append(extra)
            piece = np.concatenate(pieces)
        self._queued_samples -= len(piece)
        return piece

    async def _run(self) -> None:
        slow_lane: asyncio.Task[None] | None = None
        try:
            while (piece := await self._next_piece()) is not None:
                if self._behind:
                    # Behind real time: the merged backlog is taken with both lanes in turn.
                    await _finished(slow_lane)
                    slow_lane = None
                    stages = self.transcriber.push_in_stages(piece)
                    while (stage := await _in_thread(next, stages, None)) is not None:
                        for update in stage:
                            await self._deliver(update)
                    continue
                for update in await _in_thread(self.transcriber.take, piece):
                    await self._deliver(update)
                if (slow_lane is None or slow_lane.done()) and self.transcriber.advance_due:
                    await _finished(slow_lane)  # a failure in it ends the session here
                    slow_lane = asyncio.create_task(self._advance())
            await _finished(slow_lane)
            for update in await _in_thread(self.transcriber.finish):
                await self._deliver(update)
        finally:
            if slow_lane is not None and not slow_lane.done():
                slow_lane.cancel()

    async def _advance(self) -> None:
        """The slow lane: an endpoint or a regular decode, while the quick lane goes on."""
        update = await _in_thread(self.transcriber.advance)
        if update is not None:
            await self._deliver(update)

    async def _deliver(self, update: LiveUpdate) -> None:
        now = time.monotonic()
        delays = []
        for word in update.final:
            arrived = self._arrivals.arrival_of(word.end)
            if arrived is not None:
                delays.append(round(now - arrived, 3))
        first = None
        words = update.interim + update.final
        if words and not self._showing:
            arrived = self._arrivals.arrival_of(words[0].start)
            first = round(now - arrived, 3) if arrived is not None else None
        self._showing = bool(update.interim)
        if self._behind and not update.degraded:
            update = replace(update, degraded=True)
        await self.on_update(TimedLiveUpdate(update, delays, first))


async def _finished(task: asyncio.Task[None] | None) -> None:
    """Wait for ``task`` (if any) and raise what it raised."""
    if task is not None:
        await task
