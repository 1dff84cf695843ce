"""The messages that start a live stream: a WebSocket's config, a WebRTC offer and answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["config"] = "config"
    sample_rate: Literal[16000] = 16000
    format: Literal["s16le", "f32le"] = "s16le"
    language: str | None = "en"
    translate_to: list[str] = Field(default_factory=list, max_length=8)
    """Languages to caption (and speak) every final sentence in, e.g. ``["es", "fr"]``."""


class WebRtcOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str
    type: Literal["offer"]
    language: str | None = "en"
    translate_to: list[str] = Field(default_factory=list, max_length=8)


class WebRtcAnswer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
