"""``/v1/server``: the version, models and limits a client adapts to (the web app's settings
page shows them; its upload page sizes its chunks by them; its room pages ask Zulip for streams
only where a bot is set up)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from reflector import __version__
from reflector.api.deps import State, User
from reflector.api.server.schemas import IntegrationsOut, LimitsOut, ModelsOut, ServerOut
from reflector.integrations.config import zulip_config
from reflector.settings import Settings

router = APIRouter(prefix="/v1", tags=["server"])


def _model_name(value: str) -> str:
    """A bundled model's name, or the last part of a model path (never the whole path)."""
    return Path(value).name or value


def _summaries_model(settings: Settings) -> str:
    if settings.llm_backend == "extractive":
        return "extractive"
    if settings.llm_backend == "openai":
        return settings.llm_openai_model
    return _model_name(settings.llm_model)


@router.get("/server", response_model=ServerOut)
async def server_info(state: State, user: User) -> ServerOut:
    settings = state.settings
    return ServerOut(
        version=__version__,
        models=ModelsOut(
            transcription=_model_name(settings.asr_model),
            transcription_device=settings.asr_device,
            live=_model_name(settings.live_model),
            summaries=_summaries_model(settings),
            summaries_backend=settings.llm_backend,
            diarization=settings.diarization_backend,
            translation=settings.translation_backend,
            speech=settings.tts_backend,
        ),
        limits=LimitsOut(
            max_upload_bytes=settings.max_upload_bytes,
            upload_chunk_bytes=settings.upload_chunk_bytes,
            max_audio_seconds=settings.max_audio_seconds,
        ),
        integrations=IntegrationsOut(zulip=zulip_config(settings) is not None),
    )
