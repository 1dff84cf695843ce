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
    Turn,
    Word,
    speaker_label,
)
from reflector.domain.turns import assign_span, join_turns, relabel_turns

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
    "Turn",
    "Word",
    "assign_span",
    "build_segments",
    "join_turns",
    "make_monotonic",
    "relabel_turns",
    "speaker_label",
]
