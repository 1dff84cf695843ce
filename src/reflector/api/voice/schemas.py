"""Request and response bodies of the voice endpoints, Reflector's own and OpenAI's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reflector.audio.formats import AudioFormat
from reflector.tts import OPENAI_PCM_RATE


class SttJson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audio: str = Field(description="base64 audio in any format ffmpeg reads (data: URLs too)")
    language: str | None = Field(default=None, max_length=8)
    model: str | None = Field(default=None, max_length=200)
    diarize: bool = False


class SttWord(BaseModel):
    word: str
    start: float
    end: float
    probability: float


class SttSegment(BaseModel):
    start: float
    end: float
    text: str
    speaker: int | None
    words: list[SttWord]


class SentimentOut(BaseModel):
    label: str
    score: float
    positive: float
    negative: float
    neutral: float


class SttResponse(BaseModel):
    text: str
    language: str | None
    language_probability: float | None
    duration: float
    segments: list[SttSegment]
    sentiment: SentimentOut | None
    latency_ms: float


class TtsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="what to say (at most REFLECTOR_MAX_TTS_CHARS characters)")
    voice: str | None = Field(default=None, max_length=200, description="see GET /api/voices")
    language: str | None = Field(default=None, max_length=16)
    format: AudioFormat = "wav"
    speed: float = 1.0
    sample_rate: int | None = None
    normalize: bool = Field(default=False, description="level the speech to target_dbfs")
    target_dbfs: float = -20.0
    compress: bool = Field(default=False, description="even out loud and quiet words")
    stream: bool = Field(default=False, description="send audio sentence by sentence")


class VoiceOut(BaseModel):
    id: str
    name: str
    language: str
    backend: str


class SpeechBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=200)
    input: str
    voice: str = Field(default="alloy", max_length=200)
    instructions: str | None = Field(default=None, description="accepted; not used")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = 1.0
    stream_format: Literal["audio", "sse"] = "audio"

    # The names every speech request reads (see ``speech_output.SpeechFields``).
    @property
    def text(self) -> str:
        return self.input

    @property
    def language(self) -> None:
        return None  # the voice says the language

    @property
    def format(self) -> str:
        return self.response_format

    @property
    def sample_rate(self) -> int | None:
        return OPENAI_PCM_RATE if self.response_format == "pcm" else None


# --- WS /ws/voice ------------------------------------------------------------------------------


class TextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str
    voice: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=16)
    speed: float = 1.0
    format: AudioFormat = "pcm"
    sample_rate: int | None = None


class AudioMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["audio"]
    audio: str
    language: str | None = Field(default=None, max_length=8)
    model: str | None = Field(default=None, max_length=200)
