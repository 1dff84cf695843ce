"""Handing memory the process has freed back to the system.

glibc's allocator keeps freed blocks inside its heaps for reuse and returns pages to the system
only from the top of a heap. After work whose buffers vary in size (speaker embeddings of
phrases of every length, decodes of every length, TTS of sentences of every length) a server
held hundreds of megabytes that were free but still counted in its RSS, which looks like a leak
from the outside: 300 CAM++ embeddings of random lengths left a process at 755 MB, 474 MB after
one ``malloc_trim(0)``. So the server calls it every little while (``run_periodically``).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
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
