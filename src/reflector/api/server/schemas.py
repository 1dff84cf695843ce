"""Response body of ``/v1/server``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelsOut(BaseModel):
    """Which model does each job; names only (never an address or a key)."""

    transcription: str
    """Whisper model of uploads and recordings (``base``, ``tiny.en``, or a folder's name)."""
    transcription_device: Literal["cpu", "cuda", "auto"]
    live: str
    """Whisper model of live transcription."""
    summaries: str
    """``extractive`` (no model), the bundled model's name, or the remote model's name."""
    summaries_backend: Literal["local", "openai", "extractive"]
    diarization: Literal["local", "remote", "off"]
    translation: str
    speech: Literal["local", "openai", "elevenlabs"]


class LimitsOut(BaseModel):
    max_upload_bytes: int
    upload_chunk_bytes: int
    """Largest body of one ``PUT …/uploads/{upload_id}``: send chunks of at most this."""
    max_audio_seconds: float


class IntegrationsOut(BaseModel):
    """Which integrations an administrator has set up (never their addresses or keys)."""

    zulip: bool
    """A Zulip bot: ``/v1/zulip/…`` can answer (else 422 ``zulip-not-configured``)."""


class ServerOut(BaseModel):
    version: str
    models: ModelsOut
    limits: LimitsOut
    integrations: IntegrationsOut
