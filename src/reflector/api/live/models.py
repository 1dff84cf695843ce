"""The models every live session shares: one Whisper model (with a replica for quick looks),
the VAD and the speaker embedder, loaded in the background while the server starts."""

from __future__ import annotations

import asyncio

import structlog

from reflector import memory
from reflector.api.state import AppState
from reflector.asr import load_whisper_for, resolve_model
from reflector.asr.short_buffer import warm_up
from reflector.live.speakers import load_speaker_embedder
from reflector.vad import shared_vad

log = structlog.get_logger(__name__)

LIVE_MODEL_REPLICAS = 2
"""A session's quick look runs beside its regular decode (or another session's) instead of
waiting for it."""


async def shared_engine(state: AppState):
    """One Whisper model per process for every live session."""
    settings = state.settings

    def load():
        return load_whisper_for(
            settings.asr_options(),
            resolve_model(settings.live_model, settings.data_dir),
            replicas=LIVE_MODEL_REPLICAS,
        )

    return await asyncio.to_thread(load)


async def _preload(state: AppState) -> None:
    """Load what live sessions share, in the background while the server starts: otherwise the
    first session loads it while its audio waits (a second or more on a CPU), and the speaker
    model (seconds of CPU) loads beside its first decodes. ``/readyz`` tells how it went."""
    speaker_model = load_speaker_embedder()  # loads in a thread of its own
    await asyncio.to_thread(shared_vad)
    engine = await shared_engine(state)
    # The first decode of a loaded model also pays one-off set-up costs.
    await asyncio.to_thread(warm_up, engine.model)
    # Waited for in a thread: cancelling this task must not cancel the shared loading.
    await asyncio.to_thread(speaker_model.result)


def start_preload(state: AppState) -> asyncio.Task[None]:
    """Start loading the live models; the task is kept on the app's state for ``/readyz``."""
    task = asyncio.create_task(_preload(state))

    def report(done: asyncio.Task[None]) -> None:
        if done.cancelled():
            return
        if (error := done.exception()) is not None:
            log.warning("live models not preloaded", error=str(error))
        elif state.settings.freeze_startup_objects:  # the models live as long as the server
            memory.freeze_long_lived_objects()

    task.add_done_callback(report)
    state.live.models.preload = task
    return task
