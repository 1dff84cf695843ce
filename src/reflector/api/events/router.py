"""A transcript's events (stored ones replayed, then live) and a user's events, on WebSockets;
the stored ones also over plain HTTP, which puts every event model in the OpenAPI schema."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from reflector.api.deps import (
    Reader,
    Session,
    accept_reader,
    authenticate_websocket,
    readable_transcript,
    websocket_state,
)
from reflector.bus import BusError, transcript_channel, user_channel
from reflector.db import repository
from reflector.domain.events import TranscriptEvent

router = APIRouter(tags=["events"])

_LAST_ID = 2**63 - 1
"""The largest event id the databases store."""


@router.get("/v1/transcripts/{transcript_id}/events", response_model=list[TranscriptEvent])
async def list_events(
    transcript_id: str,
    session: Session,
    user: Reader,
    after_id: Annotated[
        int, Query(ge=0, le=_LAST_ID, description="Only the events stored after this one.")
    ] = 0,
) -> list[TranscriptEvent]:
    """The transcript's stored events, in order: what the WebSocket at the same path replays
    before it follows new ones. Each event's ``type`` says which model its ``data`` has."""
    row = await readable_transcript(session, transcript_id, user)
    return await repository.stored_events(session, row.id, after_id)


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
    state = websocket_state(websocket)
    if not await accept_reader(websocket, transcript_id):
        return

    async def replay() -> int:
        last = 0
        async with state.sessions() as session:
            for event in await repository.stored_events(session, transcript_id):
                await websocket.send_json(event.model_dump(mode="json"))
                last = event.id or 0
        return last

    await _forward(websocket, state.bus, transcript_channel(transcript_id), replay)


@router.websocket("/v1/events")
async def user_events(websocket: WebSocket) -> None:
    """Created, status changed and deleted, for all of the user's transcripts."""
    state = websocket_state(websocket)
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
