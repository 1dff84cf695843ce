"""Speech recognition engine: faster-whisper (CTranslate2) over VAD-packed windows."""

from reflector.asr.config import AsrConfig
from reflector.asr.registry import (
    BUNDLED_MODELS,
    ModelError,
    ModelLocation,
    ModelStatus,
    bundled_model_status,
    resolve_model,
)
from reflector.asr.whisper import AsrOptions, WhisperEngine, load_whisper, load_whisper_for
from reflector.asr.windows import Window, pack_windows

__all__ = [
    "BUNDLED_MODELS",
    "AsrConfig",
    "AsrOptions",
    "ModelError",
    "ModelLocation",
    "ModelStatus",
    "WhisperEngine",
    "Window",
    "bundled_model_status",
    "load_whisper",
    "load_whisper_for",
    "pack_windows",
    "resolve_model",
]
