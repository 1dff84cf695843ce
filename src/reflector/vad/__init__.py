"""Voice activity detection with Silero VAD (the ONNX model shipped inside faster-whisper)."""

from reflector.vad.silero import (
    FRAME_SAMPLES,
    SileroVad,
    SpeechRegion,
    StreamingVad,
    VadOptions,
    regions_from_probabilities,
    shared_vad,
)

__all__ = [
    "FRAME_SAMPLES",
    "SileroVad",
    "SpeechRegion",
    "StreamingVad",
    "VadOptions",
    "regions_from_probabilities",
    "shared_vad",
]
