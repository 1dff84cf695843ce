"""``WS /v1/transcripts/{id}/record/ws``: stream audio in, get live words back.

Protocol: the client sends a JSON config (``{"type": "config", "sample_rate": 16000,
"format": "s16le" | "f32le", "language": "en"}``), then binary messages of mono PCM, then
``{"type": "stop"}`` (or just closes). It receives ``{"type": "transcript", "final": [...],
"interim": [...]}`` messages; the same words go to the transcript's event stream. When the
stream ends, for any reason, the audio received so far is stored and the full pipeline runs on
it (diarization over the whole recording, topics, title, summaries) until the transcript is
``ended``.

``POST /v1/transcripts/{id}/record/webrtc`` does the same over WebRTC: the client posts an SDP
offer with an audio track (and, optionally, a data channel) and gets the answer; the data
channel takes ``STOP`` and carries the same messages back as JSON. Both ways share the claim of
the transcript, the session, the publishing of words and the wrap-up below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from reflector.api.deps import (
    POLICY_VIOLATION,
    Session,
    State,
    User,
    authenticate_websocket,
    owned_transcript,
    websocket_state,
)
from reflector.api.live.models import start_preload
from reflector.api.live.pcm import AudioFormatError, decode_pcm
from reflector.api.live.schemas import LiveConfig, WebRtcAnswer, WebRtcOffer
from reflector.api.live.service import (
    LiveStream,
    TranscriptDeletedDuringStream,
    background,
    check_stream_limit,
    check_translation,
    claim,
    release,
    start_session,
    watch_streams,
    wrap_up,
)
from reflector.api.live.webrtc import LivePeer, OfferError, close_peers
from reflector.api.problems import Problem, problem_response
from reflector.api.schemas import validation_details
from reflector.api.state import AppState
from reflector.shutdown import finish_or_cancel

SHUTDOWN_WAIT_SECONDS = 30.0
"""At shutdown, how long open sessions get to store their audio and queue their jobs."""
CONFIG_TIMEOUT = 10.0
_UNSUPPORTED = 1003
_TRY_AGAIN_LATER = 1013


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.reflector
    preload = start_preload(state) if state.settings.live_preload else None
    # Streams cut off by a crash of a server (this machine's previous one, or a server
    # elsewhere that stopped beating): their stored audio is processed.
    state.live.watcher = asyncio.create_task(watch_streams(state))
    yield
    if preload is not None:
        preload.cancel()
    state.live.stopping.set()  # the sweep ends between two rounds, never mid-query
    # Before the app closes its database and job runner: end every WebRTC peer, then let the
    # sessions (WebRTC and WebSocket) keep their audio and queue its processing.
    await close_peers(state.live.peers)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_WAIT_SECONDS
    await asyncio.sleep(0)  # wrap-ups started by the closes are scheduled, not yet created
    while (tasks := set(state.live.tasks)) and loop.time() < deadline:
        await asyncio.wait(tasks, timeout=deadline - loop.time())
    await finish_or_cancel([state.live.watcher], deadline - loop.time())


router = APIRouter(tags=["live"], lifespan=_lifespan)
log = structlog.get_logger(__name__)


@router.websocket("/v1/transcripts/{transcript_id}/record/ws")
async def record_ws(websocket: WebSocket, transcript_id: str) -> None:
    state = websocket_state(websocket)
    user = await authenticate_websocket(websocket)
    if user is None:
        return
    try:
        problem = await claim(state, transcript_id, user.id)
    except Problem as refused:  # too many streams: a 429 problem for the handshake
        await deny_websocket(websocket, refused)
        return
    if problem:
        await websocket.close(code=POLICY_VIOLATION, reason=problem[:120])
        return
    session: LiveStream | None = None
    try:
        await websocket.accept()
        try:
            config = await _receive_config(websocket)
            await check_translation(state, config.language, config.translate_to)
        except (ValueError, TimeoutError, WebSocketDisconnect) as error:
            await release(state, transcript_id)  # before answering: the client may go on
            await _send_error(websocket, "bad-config", str(error))
            with contextlib.suppress(Exception):
                await websocket.close(code=_UNSUPPORTED)
            return
        send = partial(_send_quietly, websocket)
        session = await start_session(
            state, transcript_id, config.language, send, config.translate_to
        )
        await _stream(websocket, session, config)
    finally:
        # Whatever ended the stream (STOP, a close, a vanished client, the handler cancelled),
        # the audio received so far is kept and processed, in a task of its own, which a
        # cancelled connection cannot take down with it.
        finishing = background(state, wrap_up(state, transcript_id, session))
    await finishing
    if session is not None and not session.deleted.is_set():
        await _send_quietly(websocket, {"type": "stopped", "duration": session.received_seconds})
    with contextlib.suppress(Exception):
        await websocket.close()


@router.post(
    "/v1/transcripts/{transcript_id}/record/webrtc",
    responses={400: {"description": "Malformed SDP offer"}, 409: {"description": "Not idle"}},
)
async def record_webrtc(
    transcript_id: str, offer: WebRtcOffer, state: State, user: User, db: Session
) -> WebRtcAnswer:
    """Start a live stream over WebRTC: post the offer, get the answer.

    The offer needs an audio track; a data channel is optional. ``STOP`` on the data channel,
    closing the connection, or losing it ends the stream; the audio is kept and processed."""
    await owned_transcript(db, transcript_id, user)
    await check_stream_limit(state, db, user.id)  # before any work on the offer
    await db.close()  # the stream outlives this request: hold no connection for it
    try:
        await check_translation(state, offer.language, offer.translate_to)
    except ValueError as error:
        raise Problem(400, "bad-config", str(error)) from None
    peer = LivePeer(state.settings.webrtc_ice_servers)
    try:
        await peer.accept_offer(offer.sdp)
    except OfferError:
        await peer.close()
        raise  # 400 bad-sdp, as its class says
    problem = await claim(state, transcript_id, user.id)
    if problem:
        await peer.close()
        raise Problem(409, "transcript-busy", problem)
    peers = state.live.peers
    peers.add(peer)
    try:
        answer = await peer.answer()
    except BaseException:
        peers.discard(peer)
        await peer.close()
        await release(state, transcript_id)
        raise
    background(state, _run_webrtc(state, transcript_id, peer, offer))
    return WebRtcAnswer(sdp=answer)


async def _run_webrtc(
    state: AppState, transcript_id: str, peer: LivePeer, offer: WebRtcOffer
) -> None:
    """The life of one WebRTC stream, after the answer: the same session as a WebSocket's."""
    session: LiveStream | None = None
    try:
        session = await start_session(
            state, transcript_id, offer.language, peer.send, offer.translate_to
        )
        await peer.stream(session.feed)
    except TranscriptDeletedDuringStream as error:
        await peer.send({"type": "error", "code": "transcript-deleted", "message": str(error)})
    except Exception as error:  # nobody awaits this task: say it here, and tell the client
        log.exception("live_webrtc_failed", transcript_id=transcript_id)
        await peer.send({"type": "error", "code": "session-failed", "message": str(error)})
    finally:
        finishing = background(state, wrap_up(state, transcript_id, session))
    try:
        await finishing
        if session is not None and not session.deleted.is_set():
            await peer.send({"type": "stopped", "duration": session.received_seconds})
            await asyncio.sleep(0.1)  # the data channel delivers before the connection closes
    finally:
        state.live.peers.discard(peer)
        await peer.close()


async def deny_websocket(websocket: WebSocket, problem: Problem) -> None:
    """Refuse the handshake with the problem as its HTTP answer, where the server can send one
    (uvicorn can); else close it with 1013 (try again later) and the problem's words."""
    try:
        answer = problem_response(
            problem.status, problem.slug, problem.detail, websocket.url.path, problem.headers,
            **problem.extra,
        )  # fmt: skip
        await websocket.send_denial_response(answer)
    except RuntimeError:
        await websocket.close(code=_TRY_AGAIN_LATER, reason=problem.detail[:120])


async def _receive_config(websocket: WebSocket) -> LiveConfig:
    message = await asyncio.wait_for(websocket.receive(), timeout=CONFIG_TIMEOUT)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect()
    if message.get("text") is None:
        raise ValueError("send a JSON config message before any audio")
    try:
        return LiveConfig.model_validate_json(message["text"])
    except ValidationError as error:
        raise ValueError(f"invalid config: {validation_details(error)}") from None


async def _send_quietly(websocket: WebSocket, message: dict[str, Any]) -> None:
    """Tell the client, if it is still there; a vanished client must not stop the session."""
    # Closed in one of several ways (disconnect, reset, closed transport): nobody to tell.
    with contextlib.suppress(Exception):
        await websocket.send_json(message)


async def _send_error(websocket: WebSocket, code: str, message: str) -> None:
    await _send_quietly(websocket, {"type": "error", "code": code, "message": message})


async def _stream(websocket: WebSocket, session: LiveStream, config: LiveConfig) -> None:
    """Audio until STOP, a close, or the client vanishing; bad pieces are refused one by one."""
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            try:
                samples = decode_pcm(message["bytes"], config.format)
            except AudioFormatError as error:
                await _send_error(websocket, "bad-audio", str(error))
                continue
            try:
                await session.feed(samples)
            except TranscriptDeletedDuringStream as error:
                await _send_error(websocket, "transcript-deleted", str(error))
                return
        elif message.get("text") is not None:
            try:
                command = json.loads(message["text"])
            except json.JSONDecodeError:
                await _send_error(websocket, "bad-message", "text messages must be JSON")
                continue
            if isinstance(command, dict) and command.get("type") == "stop":
                return
            await _send_error(websocket, "bad-message", 'expected {"type": "stop"} or audio')
