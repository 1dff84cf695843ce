"""``WS /ws/voice``: speech both ways over one socket.

The client sends JSON messages:

- ``{"type": "text", "text": ..., "voice"?, "language"?, "speed"?, "format"?}``: the server
  answers with ``{"type": "audio", ...}`` chunks (base64, sentence by sentence), then
  ``{"type": "done", "duration", "cached", "latency_ms", "sentiment"}``;
- ``{"type": "audio", "audio": <base64>, "language"?, "model"?}``: the server answers with
  ``{"type": "transcript", "text", "language", ..., "sentiment"}``;
- ``{"type": "ping"}``: ``{"type": "pong"}``.

Mistakes are answered with ``{"type": "error", "code", "message"}`` and the socket stays open;
one request at a time is handled, in order.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import iterate_in_threadpool

from reflector.api.deps import authenticate_websocket, websocket_state
from reflector.api.problems import Problem
from reflector.api.schemas import validation_details
from reflector.api.state import AppState
from reflector.api.voice.schemas import AudioMessage, TextMessage
from reflector.api.voice.service import recognize, stt_response
from reflector.api.voice.speech_input import save_base64
from reflector.api.voice.speech_output import open_stream, render_cached, speech_request
from reflector.errors import BadInputError
from reflector.nlp import analyze_sentiment
from reflector.pipelines.speech import RecognitionRequest
from reflector.tts import SpeechStream, split_sentences

router = APIRouter(tags=["voice"])


class MessageError(BadInputError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parse(raw: str) -> TextMessage | AudioMessage | Literal["ping"]:
    try:
        message = json.loads(raw)
    except json.JSONDecodeError:
        raise MessageError("bad-json", "messages must be JSON objects") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        return "ping"
    model = {"text": TextMessage, "audio": AudioMessage}.get(kind)  # type: ignore[arg-type]
    if model is None:
        raise MessageError("unknown-type", 'expected a message of type "text", "audio" or "ping"')
    try:
        return model.model_validate(message)
    except ValidationError as error:
        raise MessageError("bad-message", validation_details(error)) from None


async def _single_piece(data: bytes, text: str) -> AsyncIterator[tuple[bytes, str]]:
    yield data, text


async def _stream_pieces(stream: SpeechStream) -> AsyncIterator[tuple[bytes, str]]:
    """Encoded sentences as they are synthesized (off the event loop)."""
    async for piece in iterate_in_threadpool(stream.pieces()):
        if piece.data:
            yield piece.data, piece.text


async def _speak(websocket: WebSocket, state: AppState, message: TextMessage) -> None:
    voice = state.voice
    started = time.perf_counter()
    request = speech_request(state.settings.max_tts_chars, message)
    sentiment = analyze_sentiment(message.text, message.language or "en")
    stream = None
    with voice.stats.timed("ws_tts"):
        if len(split_sentences(request.text)) <= 1:
            answer = await render_cached(voice, request)  # one sentence: cacheable whole
            cached, duration = answer.cached, answer.speech.duration
            rate, media_type = answer.speech.sample_rate, answer.speech.media_type
            pieces = _single_piece(answer.speech.data, request.text)
        else:
            stream = await open_stream(voice, request)
            cached, duration = False, 0.0
            rate, media_type = stream.sample_rate, stream.media_type
            pieces = _stream_pieces(stream)
    header = {"type": "audio", "format": request.format, "media_type": media_type,
              "sample_rate": rate}  # fmt: skip
    latency = None
    index = 0
    async for data, text in pieces:
        latency = latency or time.perf_counter() - started
        await websocket.send_json({**header, "index": index, "text": text,
                                   "audio": base64.b64encode(data).decode()})  # fmt: skip
        index += 1
    if stream is not None:
        duration = stream.duration  # known once every sentence is spoken
    await websocket.send_json({
        "type": "done",
        "chunks": index,
        "duration": round(duration, 3),
        "cached": cached,
        "latency_ms": round((latency or 0.0) * 1000, 2),
        "sentiment": asdict(sentiment) if sentiment else None,
    })  # fmt: skip


async def _transcribe(websocket: WebSocket, state: AppState, message: AudioMessage) -> None:
    started = time.perf_counter()
    with state.voice.stats.timed("ws_stt"), tempfile.TemporaryDirectory() as folder:
        path = save_base64(message.audio, Path(folder), state.settings.max_audio_bytes)
        request = RecognitionRequest(language=message.language, model=message.model)
        transcript = await recognize(state, path, request)
    answer = stt_response(transcript, started).model_dump(mode="json")
    await websocket.send_json({"type": "transcript", **answer})


async def _send_error(websocket: WebSocket, code: str, message: str) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message})


@router.websocket("/ws/voice")
async def voice_socket(websocket: WebSocket) -> None:
    state = websocket_state(websocket)
    if await authenticate_websocket(websocket) is None:
        return
    await websocket.accept()
    try:
        while True:
            incoming: dict[str, Any] = await websocket.receive()
            if incoming["type"] == "websocket.disconnect":
                return
            if incoming.get("text") is None:
                await _send_error(
                    websocket, "binary-not-supported", "send JSON; audio goes base64 in 'audio'"
                )
                continue
            try:
                message = _parse(incoming["text"])
                if message == "ping":
                    await websocket.send_json({"type": "pong"})
                elif isinstance(message, TextMessage):
                    await _speak(websocket, state, message)
                else:
                    await _transcribe(websocket, state, message)
            except MessageError as error:
                await _send_error(websocket, error.code, str(error))
            except Problem as problem:
                await _send_error(websocket, problem.slug, problem.detail)
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away mid-answer
