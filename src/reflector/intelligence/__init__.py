"""Meeting intelligence: topics, title, summaries, action items and participant names."""

from reflector.domain.summary import MeetingSummary
from reflector.intelligence.grounding import GroundingSource, ungrounded_claims
from reflector.intelligence.participants import (
    DEFAULT_NAME_THRESHOLD,
    apply_participant_names,
    detect_participants,
    resolve_names,
)
from reflector.intelligence.segmentation import segment_topics, target_topic_seconds
from reflector.intelligence.summarize import (
    SummaryOptions,
    long_summary_markdown,
    summarize_meeting,
)
from reflector.intelligence.writers import (
    ExtractiveWriter,
    LlmWriter,
    MeetingWriter,
    load_writer,
)

__all__ = [
    "DEFAULT_NAME_THRESHOLD",
    "ExtractiveWriter",
    "GroundingSource",
    "LlmWriter",
    "MeetingSummary",
    "MeetingWriter",
    "SummaryOptions",
    "apply_participant_names",
    "detect_participants",
    "load_writer",
    "long_summary_markdown",
    "resolve_names",
    "segment_topics",
    "summarize_meeting",
    "target_topic_seconds",
    "ungrounded_claims",
]
