"""Feed a recording to a live transcriber at a chosen pace and record what came out, when.

The same harness drives tests (as fast as possible) and latency benchmarks (real time): audio
goes in small chunks, each chunk no earlier than it would arrive from a microphone at ``speed``,
and every update is stamped with the wall-clock time it appeared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reflector.audio import SAMPLE_RATE
from reflector.live.streaming import LiveUpdate, StreamingTranscriber


@dataclass(frozen=True)
class TimedUpdate:
    update: LiveUpdate
    wall: float
    """Seconds since streaming began."""


def stream_samples(
    transcriber: StreamingTranscriber,
    samples: np.ndarray,
    speed: float = 1.0,
    chunk_seconds: float = 0.1,
    on_update: Callable[[LiveUpdate], None] | None = None,
) -> list[TimedUpdate]:
    """Stream ``samples``; ``speed`` 1 is real time, 2 twice as fast, 0 as fast as possible.

    ``on_update`` sees each update as it happens (to print captions)."""
    chunk = max(1, round(chunk_seconds * SAMPLE_RATE))
    started = time.perf_counter()
    out: list[TimedUpdate] = []
    for index, first in enumerate(range(0, len(samples), chunk)):
        if speed > 0:
            due = (index + 1) * chunk_seconds / speed  # the chunk is complete at this moment
            wait = due - (time.perf_counter() - started)
            if wait > 0:
                time.sleep(wait)
        for update in transcriber.push(samples[first : first + chunk]):
            out.append(TimedUpdate(update, time.perf_counter() - started))
            if on_update:
                on_update(update)
    for update in transcriber.finish():
        out.append(TimedUpdate(update, time.perf_counter() - started))
        if on_update:
            on_update(update)
    return out


def final_words(updates: list[TimedUpdate]) -> list:
    return [word for timed in updates for word in timed.update.final]


def first_word_delays(
    updates: list[TimedUpdate], onsets: list[float], speed: float = 1.0, tolerance: float = 0.3
) -> list[float]:
    """For each speech onset (seconds): how long until a word of that speech was shown."""
    delays = []
    for onset in onsets:
        for timed in updates:
            words = timed.update.interim + timed.update.final
            if any(w.end >= onset - tolerance for w in words) and timed.wall >= onset / speed:
                delays.append(timed.wall - onset / speed)
                break
    return delays
