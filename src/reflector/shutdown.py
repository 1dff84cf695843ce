"""Orderly stops for background loops.

A loop that is cancelled while one of its database sessions is returning its connection leaves
the connection to be terminated by a task of the database driver, and on SQLite (aiosqlite) that
task can wait forever for a worker thread that has already gone: the event loop, and so the
server or test process, then never finishes shutting down. So the server's periodic loops are
not cancelled at shutdown but asked to stop (an :class:`asyncio.Event`), and they stop between
two rounds, when they hold no connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; whether it is set (a sleep that a stop cuts short)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def finish_or_cancel(tasks: Iterable[asyncio.Task], seconds: float) -> None:
    """Give ``tasks`` (told to stop) up to ``seconds`` to end, then cancel those left and wait
    for them."""
    pending = set(tasks)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(seconds, 0.0))
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
