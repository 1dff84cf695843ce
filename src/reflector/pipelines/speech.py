"""Speech-to-text for the voice API: one short recording in, a transcript out.

The same recogniser as file transcription (voice detection, batched Whisper, optional
speakers), without summaries, and with model names resolved the way API clients name them:
``whisper-1`` and the other OpenAI model names mean the configured default model.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import structlog

from reflector.asr import (
    BUNDLED_MODELS,
    AsrConfig,
    ModelLocation,
    load_whisper_for,
    resolve_model,
)
from reflector.diarization import make_diarizer
from reflector.domain import Transcript, Word
from reflector.errors import BadInputError
from reflector.pipelines.file import TranscribeOptions, transcribe_file

log = structlog.get_logger(__name__)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

DEFAULT_MODEL_ALIASES = frozenset(
    {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize"}
)
"""Names OpenAI clients send; they all mean the server's default recognition model."""
DIARIZING_MODELS = frozenset({"gpt-4o-transcribe-diarize"})


class RecognitionRequestError(BadInputError, ValueError):
    """The request cannot be served as asked (a model that cannot do it, say)."""

    problem_type = "unsupported-request"


@dataclass(frozen=True)
class RecognitionRequest:
    language: str | None = None
    """ISO 639-1 code; ``None`` detects it."""
    task: Literal["transcribe", "translate"] = "transcribe"
    """``translate``: English text from speech in any language."""
    model: str | None = None
    """A bundled model name (``base``, ``tiny.en``) or an alias; ``None``: the default."""
    diarize: bool = False


@dataclass(frozen=True)
class RecognizerConfig:
    data_dir: Path
    asr: AsrConfig = field(default_factory=AsrConfig)
    """How Whisper runs; ``asr.model`` is the default model (what ``whisper-1`` means)."""
    diarization_backend: str = "local"
    diarization_url: str | None = None
    diarization_api_key: str | None = None
    max_parallel: int = 1
    """Recordings recognised at once; each uses every core, so more only adds waiting."""


class SpeechRecognizer:
    """Transcribes short recordings with shared, once-loaded models; safe to call from threads."""

    def __init__(self, config: RecognizerConfig) -> None:
        self.config = config
        self._slots = threading.BoundedSemaphore(config.max_parallel)

    def model_name(self, requested: str | None) -> str:
        """The model a request names: the default (``None``, an OpenAI name, or the configured
        default's own name) or a bundled one. Never a path: a client does not choose files on
        the server, nor learn where they are."""
        if requested is None or requested in DEFAULT_MODEL_ALIASES:
            return self.config.asr.model
        if requested in BUNDLED_MODELS or requested == self.config.asr.model:
            return requested
        choices = ", ".join(["whisper-1", *BUNDLED_MODELS])
        named = f" {requested!r}" if _PLAIN_NAME.fullmatch(requested) else ""  # not a path
        raise RecognitionRequestError(f"unknown model{named}: use one of {choices}")

    def check(self, request: RecognitionRequest) -> ModelLocation:
        """Raise :class:`RecognitionRequestError` for a request that cannot work (before any audio
        is decoded), e.g. translation with an English-only model or an unknown model; else the
        model's location."""
        name = self.model_name(request.model)
        try:
            location = resolve_model(name, self.config.data_dir)
        except Exception as error:  # ModelError, or a path that is not a model
            if name not in BUNDLED_MODELS:  # a configured directory: its path stays in the log
                log.warning("configured_model_unavailable", model=name, error=str(error))
                raise RecognitionRequestError("the configured model is not available") from None
            raise RecognitionRequestError(f"model {name!r} is not available: {error}") from None
        if request.task == "translate" and not location.multilingual:
            raise RecognitionRequestError(
                f"model {name!r} understands English only; translation needs a multilingual "
                "model such as 'base'"
            )
        if request.language and not location.multilingual and request.language != "en":
            raise RecognitionRequestError(
                f"model {name!r} understands English only, not {request.language!r}"
            )
        return location

    def recognize(
        self,
        path: str | os.PathLike[str],
        request: RecognitionRequest,
        on_words: Callable[[list[Word]], None] | None = None,
    ) -> Transcript:
        """The transcript of the recording at ``path``; raises AudioError for bad audio.

        ``on_words`` gets words as they are decoded, in order, before speakers are known.
        """
        location = self.check(request)
        config = self.config
        options = TranscribeOptions.for_asr(
            replace(config.asr, model=self.model_name(request.model)),
            language=request.language,
            task=request.task,
            diarize=request.diarize,
            summarize=False,
        )
        engine = load_whisper_for(config.asr, location)
        diarizer = (
            make_diarizer(
                config.diarization_backend,  # type: ignore[arg-type]
                url=config.diarization_url,
                api_key=config.diarization_api_key,
            )
            if request.diarize
            else None
        )
        with self._slots:
            return transcribe_file(
                path, options, config.data_dir, engine=engine, diarizer=diarizer,
                on_words=on_words,
            )  # fmt: skip
