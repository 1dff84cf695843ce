"""Who may take part in a meeting: signed-in users, and guests without an account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reflector.api.deps import Reader
from reflector.api.state import AppState
from reflector.platforms.base import VideoPlatform, make_platform

Guest = Reader
"""A meeting's participant: the signed-in caller, or ``None`` for a guest who sent no
credentials at all (a multi-user server; wrong credentials are still refused, 401)."""


@asynccontextmanager
async def open_platform(state: AppState, name: str) -> AsyncIterator[VideoPlatform]:
    """The video platform ``name`` as the settings configure it, closed afterwards."""
    platform = make_platform(name, state.settings)
    try:
        yield platform
    finally:
        await platform.aclose()
