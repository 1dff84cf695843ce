"""Memory housekeeping for a long-running server: freed memory handed back to the system, and
the objects that live as long as the process kept out of the garbage collector's way.

glibc's allocator keeps freed blocks inside its heaps for reuse and returns pages to the system
only from the top of a heap. After work whose buffers vary in size (speaker embeddings of
phrases of every length, decodes of every length, TTS of sentences of every length) a server
held hundreds of megabytes that were free but still counted in its RSS, which looks like a leak
from the outside: 300 CAM++ embeddings of random lengths left a process at 755 MB, 474 MB after
one ``malloc_trim(0)``. So the server calls it every little while (``run_periodically``).

Python's collector, for its part, walks every container object in a full collection: with the
models and libraries loaded a server holds some 370,000, and each full collection stopped it
for about 190 ms, at random, in the middle of requests (a transcript's 75 ms ``/segments``
answer took 300 ms now and then). :func:`freeze_long_lived_objects` moves what exists once the
server has started (code, models) out of the collector's reach; what requests create is
collected as before. That is process-wide, so only ``reflector serve`` does it
(``freeze_startup_objects``), not an app embedded in another program.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
from collections.abc import Callable

from reflector.shutdown import wait_for_event


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the free pages of every heap to the system; whether any were returned (always
    ``False`` without glibc). Takes milliseconds; call it off the event loop."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


async def run_periodically(stop: asyncio.Event, seconds: float) -> None:
    """:func:`release_free_memory` every ``seconds`` (in a thread) until ``stop`` is set."""
    if seconds <= 0 or _malloc_trim() is None:
        return
    while not await wait_for_event(stop, seconds):
        await asyncio.to_thread(release_free_memory)


def freeze_long_lived_objects() -> None:
    """Collect the garbage there is, then keep every object alive now out of later collections
    (``gc.freeze``): for the objects of loaded code and models, which live as long as the
    process. Call once the server has started, and again after loading models."""
    gc.collect()
    gc.freeze()
