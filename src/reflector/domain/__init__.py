"""Plain typed data shared by every layer: words, segments, transcripts."""

from reflector.domain.segmentation import build_segments, make_monotonic
from reflector.domain.transcript import (
    Segment,
    SpeakerProfile,
    Transcript,
    Word,
    speaker_label,
)

__all__ = [
    "Segment",
    "SpeakerProfile",
    "Transcript",
    "Word",
    "build_segments",
    "make_monotonic",
    "speaker_label",
]
