"""Turn a transcript into files people and players read: text, captions, JSON, Markdown."""

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

__all__ = [
    "FORMATS",
    "Cue",
    "Format",
    "build_cues",
    "format_for_path",
    "render",
    "to_json",
    "to_markdown",
    "to_srt",
    "to_text",
    "to_timestamped",
    "to_vtt",
]
