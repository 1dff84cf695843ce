"""Plain typed data shared by every layer: words, segments, transcripts and their summaries."""

from reflector.domain.segmentation import build_segments, make_monotonic
from reflector.domain.summary import (
    ActionItems,
    Decision,
    MeetingSummary,
    NextStep,
    Participant,
    SummaryUsage,
    Topic,
)
from reflector.domain.transcript import (
    Segment,
    SpeakerProfile,
    Transcript,
    Word,
    speaker_label,
)

__all__ = [
    "ActionItems",
    "Decision",
    "MeetingSummary",
    "NextStep",
    "Participant",
    "Segment",
    "SpeakerProfile",
    "SummaryUsage",
    "Topic",
    "Transcript",
    "Word",
    "build_segments",
    "make_monotonic",
    "speaker_label",
]
