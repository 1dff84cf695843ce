"""``WS /v1/transcripts/{id}/translations/{language}/speech``: listen to a live session in
another language.

While a live session with ``translate_to`` runs, every translated sentence is spoken and sent
to the listeners of its language as two messages: a JSON header
``{"type": "speech", "index", "text", "format": "s16le", "sample_rate"}`` and then the audio as
one binary message (mono 16-bit PCM). When the session ends, ``{"type": "end"}`` is sent and
the socket closes. Captions (text) travel on the transcript's event stream as ``TRANSLATION``
events.
"""

from __future__ import annotations

import base64
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from reflector.api.deps import accept_reader, websocket_state
from reflector.bus.channels import speech_channel

router = APIRouter(tags=["live"])


@router.websocket("/v1/transcripts/{transcript_id}/translations/{language}/speech")
async def translated_speech(websocket: WebSocket, transcript_id: str, language: str) -> None:
    state = websocket_state(websocket)
    if not await accept_reader(websocket, transcript_id):
        return
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        async with state.bus.subscribe(speech_channel(transcript_id, language)) as messages:
            async for message in messages:
                if message.get("end"):
                    await websocket.send_json({"type": "end"})
                    break
                audio = base64.b64decode(message.pop("audio", ""))
                await websocket.send_json({"type": "speech", **message})
                await websocket.send_bytes(audio)
        await websocket.close()
