"""What a live stream does, whichever way its audio comes: claim the transcript, run a session
on the shared model, publish its words (and translations), and at the end keep the audio and
queue the full pipeline on it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.live.metrics import (
    FINAL_WORD_DELAY_SECONDS,
    FIRST_WORD_SECONDS,
    REAL_TIME_FACTOR,
)
from reflector.api.live.models import shared_engine
from reflector.api.live.outbox import LiveOutbox
from reflector.api.live.spool import LiveSpool, assemble, spool_prefix
from reflector.api.live.translation import LiveTranslation
from reflector.api.problems import Problem
from reflector.api.state import AppState
from reflector.api.uploads.service import start_processing
from reflector.blobs import BlobNotFound
from reflector.db import repository
from reflector.db.tables import TranscriptRow, utcnow
from reflector.domain.events import LiveTopicData, LiveWordsData, TopicEvent, TranscriptWordsEvent
from reflector.domain.status import TranscriptStatus
from reflector.errors import ReflectorError
from reflector.jobs.inprocess import previous_process
from reflector.jobs.runner import worker_id
from reflector.live.session import LiveSession, TimedLiveUpdate
from reflector.live.streaming import LiveOptions, StreamingTranscriber
from reflector.shutdown import finish_or_cancel, wait_for_event
from reflector.vad import shared_vad

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 10.0
"""How often a running stream marks its transcript as alive (its ``updated_at``)."""
ORPHAN_SECONDS = 60.0
"""A ``recording`` transcript without a sign of life for this long has lost its stream (its
server died): its stored audio is processed by whichever server finds it."""
SWEEP_SECONDS = 30.0
"""How often a server looks for such transcripts (and once when it starts)."""
EVENTS_DRAIN_SECONDS = 10.0
"""At the end of a stream, how long events that could not be stored yet are tried again."""
SPOOL_CLOSE_SECONDS = 20.0
"""At the end of a stream, how long storing its last pieces of audio may take."""

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Tells the client something, if it is still there (never raises)."""


async def check_stream_limit(state: AppState, session: AsyncSession, user_id: str) -> None:
    """429 ``too-many-live-sessions`` when the user already runs
    ``max_live_sessions_per_user`` streams (counted in the database, so across servers)."""
    limit = state.settings.max_live_sessions_per_user
    if limit and await repository.live_recordings(session, user_id) >= limit:
        raise Problem(
            429,
            "too-many-live-sessions",
            f"you run {limit} live streams already, the most allowed at once; stop one first",
            limit=limit,
        )


async def claim(state: AppState, transcript_id: str, user_id: str) -> str | None:
    """Mark the transcript as recording; the problem, if another stream or job has it.

    Raises 429 ``too-many-live-sessions`` when the user runs as many streams as they may
    (:func:`check_stream_limit`; two streams starting at the same instant may both pass)."""
    async with state.sessions() as session:
        try:
            row = await repository.get_transcript(session, transcript_id, user_id)
        except repository.NotFound:
            return "transcript not found"
        await check_stream_limit(state, session, user_id)
        claimed = await repository.claim_for_recording(session, row.id)
        await session.commit()
        if not claimed:
            return f"the transcript is {row.status}: only a new (idle) transcript takes a stream"
    return None


async def release(state: AppState, transcript_id: str) -> None:
    async with state.sessions() as session:
        await repository.release_recording(session, transcript_id)
        await session.commit()


async def check_translation(state: AppState, language: str | None, targets: list[str]) -> None:
    """Raise ValueError unless every ``targets`` language can be translated to from ``language``."""
    if not targets:
        return
    if not language:
        raise ValueError("translate_to needs the spoken language: set language, e.g. 'en'")
    translator = await asyncio.to_thread(state.voice.translator)
    missing = [t for t in targets if not translator.supports(language, t)]
    if missing:
        raise ValueError(f"cannot translate {language!r} into {', '.join(map(repr, missing))}")


@dataclass
class LiveStream:
    """One stream: its decoding session, its audio stored as it arrives, its events."""

    transcript_id: str
    session: LiveSession
    spool: LiveSpool
    outbox: LiveOutbox
    heartbeat: asyncio.Task[None]
    heartbeat_stop: asyncio.Event
    deleted: asyncio.Event
    """Set when the transcript is deleted for good while the stream runs."""

    @property
    def received_seconds(self) -> float:
        return self.session.received_seconds

    async def feed(self, samples: np.ndarray) -> None:
        """Store, then decode ``samples``; :class:`TranscriptDeletedDuringStream` once the
        transcript is gone (nothing more is stored for it)."""
        if self.deleted.is_set():
            raise TranscriptDeletedDuringStream("the transcript was deleted during the stream")
        # Kept first: the audio is safe whatever the decoder does with it.
        self.spool.add(samples)
        await self.session.feed(samples)


class TranscriptDeletedDuringStream(ReflectorError):
    """The transcript of a running live stream was deleted for good: the stream ends."""


async def start_session(
    state: AppState,
    transcript_id: str,
    language: str | None,
    send: Send,
    translate_to: list[str] | None = None,
) -> LiveStream:
    """A live session on the shared model whose updates go to the transcript and ``send``;
    with ``translate_to``, final sentences are also captioned and spoken in those languages.
    Its audio is stored in the blob store as it arrives (see :mod:`reflector.api.live.spool`)."""
    engine = await shared_engine(state)
    transcriber = StreamingTranscriber(engine, shared_vad(), LiveOptions(language=language))
    translation = None
    if translate_to and language:
        translator = await asyncio.to_thread(state.voice.translator)
        synthesizer = await state.voice.shared_synthesizer()
        translation = LiveTranslation(
            state, transcript_id, translator, synthesizer, language, translate_to
        )
        state.live.translations[transcript_id] = translation
    outbox = LiveOutbox(state.sessions, state.bus, transcript_id)

    async def on_update(timed: TimedLiveUpdate) -> None:
        # Nothing here may stop decoding: a failure is logged and the session goes on.
        try:
            await _publish(outbox, send, timed)
            if translation is not None and timed.update.final:
                await translation.add_final_words(timed.update.final)
        except Exception:
            log.exception("live_update_failed", transcript=transcript_id)

    state.live.recording.add(transcript_id)
    await _write_owner(state, transcript_id)
    spool = LiveSpool(state.blobs, transcript_id)
    heartbeat_stop = asyncio.Event()
    deleted = state.live.deleted[transcript_id] = asyncio.Event()
    heartbeat = asyncio.create_task(_beat(state, transcript_id, heartbeat_stop, deleted))
    session = LiveSession(transcriber, on_update, keep_audio=False)
    return LiveStream(transcript_id, session, spool, outbox, heartbeat, heartbeat_stop, deleted)


def _owner_key(transcript_id: str) -> str:
    return f"{spool_prefix(transcript_id)}owner"


async def _write_owner(state: AppState, transcript_id: str) -> None:
    """Note which server process runs the stream, so that its next start on this machine
    knows the stream is gone without waiting for the heartbeat to go stale."""
    try:
        await state.blobs.put_bytes(_owner_key(transcript_id), worker_id().encode())
    except Exception as error:
        log.warning("live_owner_not_stored", transcript=transcript_id, error=str(error)[:300])


async def _beat(
    state: AppState, transcript_id: str, stop: asyncio.Event, deleted: asyncio.Event
) -> None:
    """Mark the stream alive every :data:`HEARTBEAT_SECONDS`; set ``deleted`` when its
    transcript is gone (deleted for good through another server)."""
    while not await wait_for_event(stop, HEARTBEAT_SECONDS):
        try:
            async with state.sessions() as session:
                alive = await repository.touch_recording(session, transcript_id)
                await session.commit()
                if not alive and await session.get(TranscriptRow, transcript_id) is None:
                    deleted.set()
                    return
        except Exception as error:  # the database blinks: the next beat will do
            log.warning("live_heartbeat_failed", transcript=transcript_id, error=str(error)[:300])


async def _publish(outbox: LiveOutbox, send: Send, timed: TimedLiveUpdate) -> None:
    update_ = timed.update
    for delay in timed.final_delays:
        FINAL_WORD_DELAY_SECONDS.observe(delay)
    if timed.first_word_delay is not None:
        FIRST_WORD_SECONDS.observe(timed.first_word_delay)
    words = TranscriptWordsEvent(data=LiveWordsData.model_validate(update_, from_attributes=True))
    if update_.final:
        # Final words are kept (a late subscriber replays them); interim ones only travel.
        await outbox.keep(words)
    else:
        await outbox.send(words)
    await send({"type": "transcript", **words.data.model_dump(mode="json")})
    for topic in update_.topics:
        # Live topics are kept like final ones (marked ``live``: the pipeline writes the final
        # topics over the whole recording afterwards).
        event = TopicEvent(data=LiveTopicData.model_validate(topic.event_data()))
        await outbox.keep(event)
        await send({"type": "topic", **event.data.model_dump(mode="json")})


async def wrap_up(state: AppState, transcript_id: str, stream: LiveStream | None) -> None:
    """The end of a stream, however it ended: the audio received so far is processed."""
    if stream is None:
        await release(state, transcript_id)
        return
    if stream.deleted.is_set():
        await _drop_deleted(state, stream)
        return
    try:
        try:
            await stream.session.close()
        except Exception:  # decoding failed: the stored audio is still processed
            log.exception("live_decoding_failed", transcript=transcript_id)
        translation = state.live.translations.pop(transcript_id, None)
        if translation is not None:
            try:
                await translation.close()  # the last sentence, then the listeners hear the end
            except Exception:
                log.exception("live_translation_close_failed", transcript=transcript_id)
        REAL_TIME_FACTOR.observe(stream.session.transcriber.stats.real_time_factor)
        await stream.outbox.drain(EVENTS_DRAIN_SECONDS)
        try:
            await stream.spool.close(SPOOL_CLOSE_SECONDS)
        except TimeoutError:
            log.error("live_audio_not_all_stored", transcript=transcript_id)
    finally:
        stream.heartbeat_stop.set()  # between two beats: never cut off mid-write
        await finish_or_cancel([stream.heartbeat], HEARTBEAT_SECONDS)
        stream.spool.abandon()
        state.live.recording.discard(transcript_id)
        state.live.deleted.pop(transcript_id, None)
    # Should this fail (the database is away), the transcript stays ``recording`` without a
    # heartbeat and a server's sweep processes the stored audio later.
    await process_spooled(state, transcript_id)


async def _drop_deleted(state: AppState, stream: LiveStream) -> None:
    """End a stream whose transcript was deleted for good: decoding stops, and what was
    stored since the delete goes too."""
    transcript_id = stream.transcript_id
    try:
        stream.spool.abandon()
        stream.heartbeat_stop.set()
        await finish_or_cancel([stream.heartbeat], HEARTBEAT_SECONDS)
        try:
            await stream.session.close()
        except Exception:
            log.exception("live_decoding_failed", transcript=transcript_id)
        translation = state.live.translations.pop(transcript_id, None)
        if translation is not None:  # its listeners hear that the session is over
            await translation.close()
    finally:
        state.live.recording.discard(transcript_id)
        state.live.deleted.pop(transcript_id, None)
        await state.blobs.delete_prefix(f"transcripts/{transcript_id}/")
    log.info("live_stream_of_deleted_transcript_ended", transcript=transcript_id)


async def process_spooled(state: AppState, transcript_id: str) -> None:
    """Turn a stream's stored pieces into its recording and run the full pipeline on it; a
    stream that kept (almost) nothing gives the transcript back (``idle``)."""
    prefix = spool_prefix(transcript_id)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "live.wav"
        seconds = await assemble(state.blobs, transcript_id, path)
        if seconds < 0.1:
            await release(state, transcript_id)
            await state.blobs.delete_prefix(prefix)
            return
        key = f"transcripts/{transcript_id}/upload.wav"
        await state.blobs.put_file(key, path, "audio/wav")
    async with state.sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        if row.status != TranscriptStatus.RECORDING:
            return  # another server finished it first
        row.upload_key = key
        row.duration = round(seconds, 3)
        await start_processing(state, session, row)
    await state.blobs.delete_prefix(prefix)


async def recover_streams(state: AppState, started: datetime) -> list[str]:
    """Process the stored audio of every stream whose server is gone; their ids.

    A stream is gone when its transcript is ``recording`` here and either its server was this
    machine's previous server process (the process that ran before ``started``), or it gave no
    sign of life for :data:`ORPHAN_SECONDS` (a server elsewhere died).
    """
    me = worker_id()
    stale_before = utcnow() - timedelta(seconds=ORPHAN_SECONDS)
    async with state.sessions() as session:
        candidates = await repository.stale_recordings(session, utcnow())
    recovered = []
    for transcript_id, seen in candidates:
        if transcript_id in state.live.recording:
            continue  # a stream of this process
        if _aware(seen) >= stale_before and not (
            _aware(seen) < started and await _owner_gone(state, transcript_id, me)
        ):
            continue
        async with state.sessions() as session:
            taken = await repository.take_stale_recording(session, transcript_id, seen)
            await session.commit()
        if not taken:
            continue
        log.warning("live_stream_recovered", transcript=transcript_id)
        try:
            await process_spooled(state, transcript_id)
        except Exception:  # tried again at the next sweep, once the heartbeat is stale
            log.exception("live_stream_recovery_failed", transcript=transcript_id)
            continue
        recovered.append(transcript_id)
    return recovered


async def _owner_gone(state: AppState, transcript_id: str, me: str) -> bool:
    try:
        owner = (await state.blobs.get_bytes(_owner_key(transcript_id))).decode()
    except BlobNotFound:
        return False
    return previous_process(owner, me)


def _aware(moment: datetime) -> datetime:
    """SQLite gives times back without their zone; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


async def watch_streams(state: AppState) -> None:
    """Recover gone streams now, then every :data:`SWEEP_SECONDS`, until
    ``state.live.stopping`` is set."""
    started = utcnow()
    while True:
        try:
            await recover_streams(state, started)
        except Exception:  # the database is away: the next sweep
            log.exception("live_stream_sweep_failed")
        if await wait_for_event(state.live.stopping, SWEEP_SECONDS):
            return


def background(state: AppState, coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """Run ``coroutine`` in a task that no cancellation of the caller reaches.

    The task is created from a loop callback, outside the caller's task, so cancel scopes that
    track task ancestry do not include it either. The returned future completes with it.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    tasks = state.live.tasks

    def relay(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if done.cancelled():
            return
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            done.set_result(None)

    def start() -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(relay)

    loop.call_soon(start)
    return done
