"""Request and response bodies of uploads and processing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from reflector.api.schemas import StrictBody


class UploadCreate(StrictBody):
    filename: str = Field(default="", max_length=500)
    size: int | None = Field(default=None, ge=0)
    """Total bytes, if known; a larger upload is refused before it starts."""


class UploadOut(BaseModel):
    id: str
    transcript_id: str
    filename: str
    size: int | None
    received: int
    """Bytes stored so far: the offset of the next chunk."""
    status: Literal["open", "complete", "rejected", "expired"]
    """``expired``: left unfinished longer than the server keeps uploads (removed)."""


class JobOut(BaseModel):
    id: str
    status: str
    stages_done: list[str]
    current_stage: str | None
    error: str | None
