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
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from prometheus_client import Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import update

from reflector.api.deps import Session, State, User, owned_transcript
from reflector.api.live_translation import LiveTranslation
from reflector.api.live_webrtc import LivePeer, OfferError, close_peers, peer_registry
from reflector.api.problems import Problem
from reflector.api.routers.events import authenticate_websocket
from reflector.api.state import AppState
from reflector.asr import load_whisper, resolve_model
from reflector.asr.short_buffer import warm_up
from reflector.audio import SAMPLE_RATE, write_wav
from reflector.db import repository
from reflector.db.tables import TranscriptRow
from reflector.jobs.submit import create_job
from reflector.live.session import LiveSession, TimedLiveUpdate
from reflector.live.speakers import load_speaker_embedder
from reflector.live.streaming import LiveOptions, StreamingTranscriber
from reflector.pipelines.publish import (
    publish_transcript_event,
    publish_user_event,
    record_and_publish,
)
from reflector.vad import shared_vad

SHUTDOWN_WAIT_SECONDS = 30.0
"""At shutdown, how long open sessions get to store their audio and queue their jobs."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.reflector
    preload = _start_preload(state) if state.settings.live_preload else None
    yield
    if preload is not None:
        preload.cancel()
    # Before the app closes its database and job runner: end every WebRTC peer, then let the
    # sessions (WebRTC and WebSocket) keep their audio and queue its processing.
    await close_peers(state.extras)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_WAIT_SECONDS
    await asyncio.sleep(0)  # wrap-ups started by the closes are scheduled, not yet created
    while (tasks := set(state.extras.get("live_tasks", ()))) and loop.time() < deadline:
        await asyncio.wait(tasks, timeout=deadline - loop.time())


router = APIRouter(tags=["live"], lifespan=_lifespan)
log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Tells the client something, if it is still there (never raises)."""

FIRST_WORD_SECONDS = Histogram(
    "reflector_live_first_word_seconds",
    "Seconds from the arrival of speech audio to its first shown word",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
)
FINAL_WORD_DELAY_SECONDS = Histogram(
    "reflector_live_final_word_delay_seconds",
    "Seconds from the arrival of a word's audio to the word becoming final",
    buckets=(0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0),
)
REAL_TIME_FACTOR = Histogram(
    "reflector_live_real_time_factor",
    "Decoding seconds per second of audio, per live session",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5),
)

_UNSUPPORTED = 1003
_POLICY_VIOLATION = 1008
CONFIG_TIMEOUT = 10.0
_warmed_models: set[int] = set()
"""Live models (by id) that have had their first, slower decode."""


class LiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["config"] = "config"
    sample_rate: Literal[16000] = 16000
    format: Literal["s16le", "f32le"] = "s16le"
    language: str | None = "en"
    translate_to: list[str] = Field(default_factory=list, max_length=8)
    """Languages to caption (and speak) every final sentence in, e.g. ``["es", "fr"]``."""


class AudioFormatError(ValueError):
    """Bytes that are not the announced PCM format."""


def decode_pcm(data: bytes, fmt: str) -> np.ndarray:
    """Mono PCM bytes → float32 samples; refuses sizes and values the format cannot have."""
    if fmt == "s16le":
        if len(data) % 2:
            raise AudioFormatError("s16le audio needs an even number of bytes (2 per sample)")
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if len(data) % 4:
        raise AudioFormatError("f32le audio needs a multiple of 4 bytes (4 per sample)")
    samples = np.frombuffer(data, dtype="<f4")
    if not np.isfinite(samples).all() or np.abs(samples).max(initial=0.0) > 16.0:
        raise AudioFormatError(
            "f32le samples must be finite and near [-1, 1]; is the stream really float32?"
        )
    return samples.astype(np.float32)


def _words(words) -> list[dict[str, Any]]:
    return [w.model_dump(mode="json") for w in words]


async def _claim(state: AppState, transcript_id: str, user_id: str) -> str | None:
    """Mark the transcript as recording; the problem, if another stream or job has it."""
    async with state.sessions() as session:
        try:
            row = await repository.get_transcript(session, transcript_id, user_id)
        except repository.NotFound:
            return "transcript not found"
        result = await session.execute(
            update(TranscriptRow)
            .where(TranscriptRow.id == row.id, TranscriptRow.status == "idle")
            .values(status="recording", source="live")
        )
        await session.commit()
        if result.rowcount != 1:
            return f"the transcript is {row.status}: only a new (idle) transcript takes a stream"
    return None


async def _preload(state: AppState) -> None:
    """Load what live sessions share, in the background while the server starts: otherwise the
    first session loads it while its audio waits (a second or more on a CPU), and the speaker
    model (seconds of CPU) loads beside its first decodes. ``/readyz`` tells how it went."""
    speaker_model = load_speaker_embedder()  # loads in a thread of its own
    await asyncio.to_thread(shared_vad)
    engine = await _shared_engine(state)
    if id(engine.model) not in _warmed_models:  # models are shared for the process's life
        # The first decode of a loaded model also pays one-off set-up costs.
        await asyncio.to_thread(warm_up, engine.model)
        _warmed_models.add(id(engine.model))
    # Waited for in a thread: cancelling this task must not cancel the shared loading.
    await asyncio.to_thread(speaker_model.result)


def _start_preload(state: AppState) -> asyncio.Task[None]:
    task = asyncio.create_task(_preload(state))

    def report(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and (error := done.exception()) is not None:
            log.warning("live models not preloaded", error=str(error))

    task.add_done_callback(report)
    state.extras["live_preload"] = task
    return task


def live_models_status(state: AppState) -> str:
    """``off`` (not preloaded), ``loading``, ``ready``, or ``error: <why>``."""
    task = state.extras.get("live_preload")
    if task is None or task.cancelled():
        return "off"
    if not task.done():
        return "loading"
    error = task.exception()
    return "ready" if error is None else f"error: {error}"[:300]


LIVE_MODEL_REPLICAS = 2
"""A session's quick look runs beside its regular decode (or another session's) instead of
waiting for it."""


async def _shared_engine(state: AppState):
    """One Whisper model per process for every live session."""
    model = state.settings.live_model

    def load():
        return load_whisper(
            resolve_model(model, state.settings.data_dir),
            state.settings.asr_device,
            state.settings.asr_compute_type,
            state.settings.asr_cpu_threads,
            replicas=LIVE_MODEL_REPLICAS,
        )

    return await asyncio.to_thread(load)


@router.websocket("/v1/transcripts/{transcript_id}/record/ws")
async def record_ws(websocket: WebSocket, transcript_id: str) -> None:
    state: AppState = websocket.app.state.reflector
    user = await authenticate_websocket(websocket)
    if user is None:
        return
    problem = await _claim(state, transcript_id, user.id)
    if problem:
        await websocket.close(code=_POLICY_VIOLATION, reason=problem[:120])
        return
    session: LiveSession | None = None
    try:
        await websocket.accept()
        try:
            config = await _receive_config(websocket)
            await _check_translation(state, config.language, config.translate_to)
        except (ValueError, TimeoutError, WebSocketDisconnect) as error:
            await _release(state, transcript_id)  # before answering: the client may go on
            await _send_error(websocket, "bad-config", str(error))
            with contextlib.suppress(Exception):
                await websocket.close(code=_UNSUPPORTED)
            return
        send = partial(_send_quietly, websocket)
        session = await _start_session(
            state, transcript_id, config.language, send, config.translate_to
        )
        await _stream(websocket, session, config)
    finally:
        # Whatever ended the stream (STOP, a close, a vanished client, the handler cancelled),
        # the audio received so far is kept and processed, in a task of its own, which a
        # cancelled connection cannot take down with it.
        finishing = _background(state, _wrap_up(state, transcript_id, user.id, session))
    await finishing
    if session is not None:
        await _send_quietly(websocket, {"type": "stopped", "duration": session.received_seconds})
    with contextlib.suppress(Exception):
        await websocket.close()


class WebRtcOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str
    type: Literal["offer"]
    language: str | None = "en"
    translate_to: list[str] = Field(default_factory=list, max_length=8)


class WebRtcAnswer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"


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
    await db.close()  # the stream outlives this request: hold no connection for it
    try:
        await _check_translation(state, offer.language, offer.translate_to)
    except ValueError as error:
        raise Problem(400, "bad-config", str(error)) from None
    peer = LivePeer(state.settings.webrtc_ice_servers)
    try:
        await peer.accept_offer(offer.sdp)
    except OfferError as error:
        await peer.close()
        raise Problem(400, "bad-sdp", str(error)) from None
    problem = await _claim(state, transcript_id, user.id)
    if problem:
        await peer.close()
        raise Problem(409, "transcript-busy", problem)
    peers = peer_registry(state.extras)
    peers.add(peer)
    try:
        answer = await peer.answer()
    except BaseException:
        peers.discard(peer)
        await peer.close()
        await _release(state, transcript_id)
        raise
    _background(state, _run_webrtc(state, transcript_id, user.id, peer, offer))
    return WebRtcAnswer(sdp=answer)


async def _run_webrtc(
    state: AppState, transcript_id: str, user_id: str, peer: LivePeer, offer: WebRtcOffer
) -> None:
    """The life of one WebRTC stream, after the answer: the same session as a WebSocket's."""
    session: LiveSession | None = None
    try:
        session = await _start_session(
            state, transcript_id, offer.language, peer.send, offer.translate_to
        )
        await peer.stream(session.feed)
    except Exception as error:  # nobody awaits this task: say it here, and tell the client
        log.exception("live_webrtc_failed", transcript_id=transcript_id)
        await peer.send({"type": "error", "code": "session-failed", "message": str(error)})
    finally:
        finishing = _background(state, _wrap_up(state, transcript_id, user_id, session))
    try:
        await finishing
        if session is not None:
            await peer.send({"type": "stopped", "duration": session.received_seconds})
            await asyncio.sleep(0.1)  # the data channel delivers before the connection closes
    finally:
        peer_registry(state.extras).discard(peer)
        await peer.close()


async def _check_translation(state: AppState, language: str | None, targets: list[str]) -> None:
    """Raise ValueError unless every ``targets`` language can be translated to from ``language``."""
    if not targets:
        return
    if not language:
        raise ValueError("translate_to needs the spoken language: set language, e.g. 'en'")
    translator = await asyncio.to_thread(state.voice.translator)
    missing = [t for t in targets if not translator.supports(language, t)]
    if missing:
        raise ValueError(f"cannot translate {language!r} into {', '.join(map(repr, missing))}")


async def _start_session(
    state: AppState,
    transcript_id: str,
    language: str | None,
    send: Send,
    translate_to: list[str] | None = None,
) -> LiveSession:
    """A live session on the shared model whose updates go to the transcript and ``send``;
    with ``translate_to``, final sentences are also captioned and spoken in those languages."""
    engine = await _shared_engine(state)
    transcriber = StreamingTranscriber(engine, shared_vad(), LiveOptions(language=language))
    translation = None
    if translate_to and language:
        translator = await asyncio.to_thread(state.voice.translator)
        synthesizer = await state.voice.shared_synthesizer()
        translation = LiveTranslation(
            state, transcript_id, translator, synthesizer, language, translate_to
        )
        state.extras.setdefault("live_translations", {})[transcript_id] = translation

    async def on_update(timed: TimedLiveUpdate) -> None:
        await _publish(state, send, transcript_id, timed)
        if translation is not None and timed.update.final:
            await translation.add_final_words(timed.update.final)

    return LiveSession(transcriber, on_update)


async def _wrap_up(
    state: AppState, transcript_id: str, user_id: str, session: LiveSession | None
) -> None:
    if session is None:
        await _release(state, transcript_id)
        return
    await session.close()
    translation = state.extras.get("live_translations", {}).pop(transcript_id, None)
    if translation is not None:
        await translation.close()  # the last sentence, then the listeners hear the end
    REAL_TIME_FACTOR.observe(session.transcriber.stats.real_time_factor)
    await _process_recording(state, transcript_id, user_id, session.recording())


def _background(state: AppState, coroutine) -> asyncio.Future:
    """Run ``coroutine`` in a task that no cancellation of the caller reaches.

    The task is created from a loop callback, outside the caller's task, so cancel scopes that
    track task ancestry do not include it either. The returned future completes with it.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    tasks: set[asyncio.Task] = state.extras.setdefault("live_tasks", set())

    def relay(task: asyncio.Task) -> None:
        tasks.discard(task)
        if done.cancelled():
            return
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())
        else:
            done.set_result(None)

    def start() -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(relay)

    loop.call_soon(start)
    return done


async def _receive_config(websocket: WebSocket) -> LiveConfig:
    message = await asyncio.wait_for(websocket.receive(), timeout=CONFIG_TIMEOUT)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect()
    if message.get("text") is None:
        raise ValueError("send a JSON config message before any audio")
    try:
        return LiveConfig.model_validate_json(message["text"])
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ValueError(f"invalid config: {details}") from None


async def _send_quietly(websocket: WebSocket, message: dict[str, Any]) -> None:
    """Tell the client, if it is still there; a vanished client must not stop the session."""
    # Closed in one of several ways (disconnect, reset, closed transport): nobody to tell.
    with contextlib.suppress(Exception):
        await websocket.send_json(message)


async def _send_error(websocket: WebSocket, code: str, message: str) -> None:
    await _send_quietly(websocket, {"type": "error", "code": code, "message": message})


async def _stream(websocket: WebSocket, session: LiveSession, config: LiveConfig) -> None:
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
            await session.feed(samples)
        elif message.get("text") is not None:
            try:
                command = json.loads(message["text"])
            except json.JSONDecodeError:
                await _send_error(websocket, "bad-message", "text messages must be JSON")
                continue
            if isinstance(command, dict) and command.get("type") == "stop":
                return
            await _send_error(websocket, "bad-message", 'expected {"type": "stop"} or audio')


async def _publish(state: AppState, send: Send, transcript_id: str, timed: TimedLiveUpdate) -> None:
    update_ = timed.update
    for delay in timed.final_delays:
        FINAL_WORD_DELAY_SECONDS.observe(delay)
    if timed.first_word_delay is not None:
        FIRST_WORD_SECONDS.observe(timed.first_word_delay)
    data = {
        "final": _words(update_.final),
        "interim": _words(update_.interim),
        "audio_time": update_.audio_time,
        "degraded": update_.degraded,
    }
    if update_.final:
        # Final words are kept (a late subscriber replays them); interim ones only travel.
        async with state.sessions() as session:
            await record_and_publish(session, state.bus, transcript_id, "TRANSCRIPT", data)
    else:
        await publish_transcript_event(state.bus, transcript_id, "TRANSCRIPT", data)
    await send({"type": "transcript", **data})
    for topic in update_.topics:
        # Live topics are kept like final ones (marked ``live``: the pipeline writes the final
        # topics over the whole recording afterwards).
        topic_data = topic.event_data()
        async with state.sessions() as session:
            await record_and_publish(session, state.bus, transcript_id, "TOPIC", topic_data)
        await send({"type": "topic", **topic_data})


async def _release(state: AppState, transcript_id: str) -> None:
    async with state.sessions() as session:
        await session.execute(
            update(TranscriptRow)
            .where(TranscriptRow.id == transcript_id, TranscriptRow.status == "recording")
            .values(status="idle")
        )
        await session.commit()


async def _process_recording(
    state: AppState, transcript_id: str, user_id: str, samples: np.ndarray
) -> None:
    """Keep what was received and run the full pipeline on it."""
    if samples.size < SAMPLE_RATE // 10:
        await _release(state, transcript_id)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = write_wav(samples, Path(folder) / "live.wav")
        key = f"transcripts/{transcript_id}/upload.wav"
        await state.blobs.put_file(key, path, "audio/wav")
    async with state.sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        row.upload_key = key
        row.duration = round(samples.size / SAMPLE_RATE, 3)
        job = await create_job(session, row, state.settings)
        await session.commit()
        await record_and_publish(session, state.bus, transcript_id, "STATUS", {"value": row.status})
    await publish_user_event(state.bus, user_id, "TRANSCRIPT_STATUS", transcript_id,
                             value="processing")  # fmt: skip
    await state.submit_job(job.id)
