"""What a live stream does, whichever way its audio comes: claim the transcript, run a session
on the shared model, publish its words (and translations), and at the end keep the audio and
queue the full pipeline on it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np

from reflector.api.live.metrics import (
    FINAL_WORD_DELAY_SECONDS,
    FIRST_WORD_SECONDS,
    REAL_TIME_FACTOR,
)
from reflector.api.live.models import shared_engine
from reflector.api.live.translation import LiveTranslation
from reflector.api.state import AppState
from reflector.api.uploads.service import start_processing
from reflector.audio import SAMPLE_RATE, write_wav
from reflector.db import repository
from reflector.domain.events import LiveTopicData, LiveWordsData, TopicEvent, TranscriptWordsEvent
from reflector.live.session import LiveSession, TimedLiveUpdate
from reflector.live.streaming import LiveOptions, StreamingTranscriber
from reflector.pipelines.publish import publish_transcript_event, record_and_publish
from reflector.vad import shared_vad

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Tells the client something, if it is still there (never raises)."""


async def claim(state: AppState, transcript_id: str, user_id: str) -> str | None:
    """Mark the transcript as recording; the problem, if another stream or job has it."""
    async with state.sessions() as session:
        try:
            row = await repository.get_transcript(session, transcript_id, user_id)
        except repository.NotFound:
            return "transcript not found"
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


async def start_session(
    state: AppState,
    transcript_id: str,
    language: str | None,
    send: Send,
    translate_to: list[str] | None = None,
) -> LiveSession:
    """A live session on the shared model whose updates go to the transcript and ``send``;
    with ``translate_to``, final sentences are also captioned and spoken in those languages."""
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

    async def on_update(timed: TimedLiveUpdate) -> None:
        await _publish(state, send, transcript_id, timed)
        if translation is not None and timed.update.final:
            await translation.add_final_words(timed.update.final)

    return LiveSession(transcriber, on_update)


async def _publish(state: AppState, send: Send, transcript_id: str, timed: TimedLiveUpdate) -> None:
    update_ = timed.update
    for delay in timed.final_delays:
        FINAL_WORD_DELAY_SECONDS.observe(delay)
    if timed.first_word_delay is not None:
        FIRST_WORD_SECONDS.observe(timed.first_word_delay)
    words = TranscriptWordsEvent(data=LiveWordsData.model_validate(update_, from_attributes=True))
    if update_.final:
        # Final words are kept (a late subscriber replays them); interim ones only travel.
        async with state.sessions() as session:
            await record_and_publish(session, state.bus, transcript_id, words)
    else:
        await publish_transcript_event(state.bus, transcript_id, words)
    await send({"type": "transcript", **words.data.model_dump(mode="json")})
    for topic in update_.topics:
        # Live topics are kept like final ones (marked ``live``: the pipeline writes the final
        # topics over the whole recording afterwards).
        event = TopicEvent(data=LiveTopicData.model_validate(topic.event_data()))
        async with state.sessions() as session:
            await record_and_publish(session, state.bus, transcript_id, event)
        await send({"type": "topic", **event.data.model_dump(mode="json")})


async def wrap_up(state: AppState, transcript_id: str, session: LiveSession | None) -> None:
    """The end of a stream, however it ended: the audio received so far is processed."""
    if session is None:
        await release(state, transcript_id)
        return
    await session.close()
    translation = state.live.translations.pop(transcript_id, None)
    if translation is not None:
        await translation.close()  # the last sentence, then the listeners hear the end
    REAL_TIME_FACTOR.observe(session.transcriber.stats.real_time_factor)
    await _process_recording(state, transcript_id, session.recording())


async def _process_recording(state: AppState, transcript_id: str, samples: np.ndarray) -> None:
    """Keep what was received and run the full pipeline on it."""
    if samples.size < SAMPLE_RATE // 10:
        await release(state, transcript_id)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = write_wav(samples, Path(folder) / "live.wav")
        key = f"transcripts/{transcript_id}/upload.wav"
        await state.blobs.put_file(key, path, "audio/wav")
    async with state.sessions() as session:
        row = await repository.get_transcript(session, transcript_id, None)
        row.upload_key = key
        row.duration = round(samples.size / SAMPLE_RATE, 3)
        await start_processing(state, session, row)


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
