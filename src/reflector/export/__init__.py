"""Turn a transcript into files people, players and scorers read: text, captions, JSON, Markdown,
RTTM."""

from reflector.export.cues import Cue, build_cues
from reflector.export.formats import (
    FORMATS,
    Format,
    format_for_path,
    render,
    to_json,
    to_markdown,
    to_srt,
    to_text,
    to_timestamped,
    to_vtt,
)
from reflector.export.rttm import to_rttm

__all__ = [
    "FORMATS",
    "Cue",
    "Format",
    "build_cues",
    "format_for_path",
    "render",
    "to_json",
    "to_markdown",
    "to_rttm",
    "to_srt",
    "to_text",
    "to_timestamped",
    "to_vtt",
]
