"""A live stream's audio, kept in the blob store as it arrives.

The received audio is cut into numbered pieces of a few seconds (16-bit PCM, 16 kHz mono,
``transcripts/<id>/live/000001.pcm``, …), each written by a background task, so the event loop
never waits for storage and a crash of the server loses at most the piece being filled (plus
one being written). Pieces are written one after another, in order: the recording is every piece
from the first up to the first missing number, whether the stream ended well or the server died.
Blobs are never appended to (S3 objects cannot be), so numbered pieces are simpler than one
growing object. A piece that cannot be stored is kept and tried again, the later ones behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import structlog

from reflector.audio import SAMPLE_RATE
from reflector.blobs import BlobNotFound, BlobStore

log = structlog.get_logger(__name__)

PIECE_SECONDS = 3.0
"""Audio per stored piece: what a crash may lose at most, besides a piece being written."""
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Waits between tries to store a piece while the store is away (the last one repeats)."""
_SAMPLE_BYTES = 2


def spool_prefix(transcript_id: str) -> str:
    return f"transcripts/{transcript_id}/live/"


def piece_key(transcript_id: str, number: int) -> str:
    """The key of piece ``number`` (from 1)."""
    return f"{spool_prefix(transcript_id)}{number:06d}.pcm"


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class LiveSpool:
    """Stores a stream's audio in pieces while it arrives; :meth:`close` stores the rest."""

    def __init__(
        self,
        blobs: BlobStore,
        transcript_id: str,
        piece_seconds: float = PIECE_SECONDS,
        on_stored: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.blobs = blobs
        self.transcript_id = transcript_id
        self.on_stored = on_stored
        """Called after each piece is stored, with its number (a failure is only logged)."""
        self._piece_bytes = round(piece_seconds * SAMPLE_RATE) * _SAMPLE_BYTES
        self._filling = bytearray()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._numbers = 0
        self.stored = 0
        """Pieces stored so far."""
        self._writer = asyncio.create_task(self._write_all())

    def add(self, samples: np.ndarray) -> None:
        """Take received audio (float32 in [-1, 1]); never waits for storage."""
        self._filling += to_pcm16(samples)
        while len(self._filling) >= self._piece_bytes:
            self._queue.put_nowait(bytes(self._filling[: self._piece_bytes]))
            del self._filling[: self._piece_bytes]

    async def close(self, timeout: float | None = None) -> None:
        """Store the last, partial piece and wait until every piece is stored.

        Raises :class:`TimeoutError` when the store stays away longer than ``timeout``: the
        pieces stored so far are the recording then."""
        if self._filling:
            self._queue.put_nowait(bytes(self._filling))
            self._filling.clear()
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
        except TimeoutError:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            raise

    def abandon(self) -> None:
        """Stop writing (the pieces stored so far stay)."""
        self._writer.cancel()

    async def _write_all(self) -> None:
        while (data := await self._queue.get()) is not None:
            self._numbers += 1
            await self._store(self._numbers, data)
            self.stored = self._numbers
            if self.on_stored is not None:
                try:
                    await self.on_stored(self._numbers)
                except Exception:
                    log.warning("live_spool_callback_failed", transcript=self.transcript_id)

    async def _store(self, number: int, data: bytes) -> None:
        key = piece_key(self.transcript_id, number)
        for attempt in itertools.count():
            try:
                await self.blobs.put_bytes(key, data, "application/octet-stream")
                if attempt:
                    log.info("live_spool_recovered", transcript=self.transcript_id, piece=number)
                return
            except Exception as error:  # the store is away: keep the audio, try again
                log.warning(
                    "live_spool_write_failed",
                    transcript=self.transcript_id,
                    piece=number,
                    error=str(error)[:300],
                )
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])


async def assemble(blobs: BlobStore, transcript_id: str, path: Path) -> float:
    """Write the stored pieces, in order, into the WAV file ``path``, one piece in memory at a
    time; the seconds of audio written."""
    frames = 0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(_SAMPLE_BYTES)
        out.setframerate(SAMPLE_RATE)
        number = 1
        while True:
            try:
                data = await blobs.get_bytes(piece_key(transcript_id, number))
            except BlobNotFound:
                break
            data = data[: len(data) - len(data) % _SAMPLE_BYTES]
            await asyncio.to_thread(out.writeframes, data)
            frames += len(data) // _SAMPLE_BYTES
            number += 1
    return frames / SAMPLE_RATE
