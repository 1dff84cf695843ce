"""WebSockets: a transcript's events (stored ones replayed, then live) and a user's events."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from reflector.api.auth import current_user
from reflector.api.problems import Problem
from reflector.bus import BusError, transcript_channel, user_channel
from reflector.db import repository

router = APIRouter(tags=["events"])

_POLICY_VIOLATION = 1008


async def authenticate_websocket(websocket: WebSocket):
    try:
        return await current_user(websocket)  # type: ignore[arg-type]
    except Problem as problem:
        await websocket.close(code=_POLICY_VIOLATION, reason=problem.detail[:120])
        return None


async def accept_reader(websocket: WebSocket, transcript_id: str) -> bool:
    """Accept the socket if its user may read the transcript; else close it (1008), False."""
    state = websocket.app.state.reflector
    user = await authenticate_websocket(websocket)
    if user is None:
        return False
    async with state.sessions() as session:
        try:
            await repository.get_readable_transcript(session, transcript_id, user.id)
        except repository.NotFound:
            await websocket.close(code=_POLICY_VIOLATION, reason="transcript not found")
            return False
    await websocket.accept()
    return True


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


@router.websocket("/v1/transcripts/{transcript_id}/events")
async def transcript_events(websocket: WebSocket, transcript_id: str) -> None:
    """Replays every stored event in order, then forwards new ones as they happen.

    The live subscription opens *before* the replay is read, and events already replayed are
    skipped by id, so nothing falls between the two.
    """
    state = websocket.app.state.reflector
    if not await accept_reader(websocket, transcript_id):
        return

    async def replay() -> int:
        last = 0
        async with state.sessions() as session:
            for event in await repository.events_after(session, transcript_id):
                await websocket.send_json({"id": event.id, "type": event.type, "data": event.data})
                last = event.id
        return last

    await _forward(websocket, state.bus, transcript_channel(transcript_id), replay)


@router.websocket("/v1/events")
async def user_events(websocket: WebSocket) -> None:
    """Created, status changed and deleted, for all of the user's transcripts."""
    state = websocket.app.state.reflector
    user = await authenticate_websocket(websocket)
    if user is None:
        return
    await websocket.accept()
    await _forward(websocket, state.bus, user_channel(user.id))


async def _forward(websocket: WebSocket, bus, channel: str, replay=None) -> None:
    """Bus messages on ``channel`` to the client until it leaves; ``replay`` first sends the
    stored past (the subscription is already open) and returns the last id it sent."""
    try:
        async with bus.subscribe(channel) as live:
            last = await replay() if replay else 0
            watcher = asyncio.create_task(_until_disconnect(websocket))
            try:
                async for message in _race(live, watcher):
                    if (message.get("id") or 0) and message["id"] <= last:
                        continue
                    await websocket.send_json(message)
            finally:
                watcher.cancel()
    except (WebSocketDisconnect, BusError):
        pass
    with contextlib.suppress(RuntimeError):
        await websocket.close()


async def _race(messages, watcher: asyncio.Task):
    """Messages until the client goes away."""
    iterator = aiter(messages)
    while not watcher.done():
        receive = asyncio.ensure_future(anext(iterator))
        done, _ = await asyncio.wait({receive, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if receive in done:
            try:
                yield receive.result()
            except StopAsyncIteration:
                return
        else:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await receive
            return
