"""Render a :class:`Transcript` as text, timestamped text, WebVTT, SRT, JSON, Markdown or RTTM."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from reflector.domain.transcript import Transcript
from reflector.export.cues import build_cues, squash, wrap
from reflector.export.rttm import to_rttm
from reflector.export.summary_sections import summary_markdown_blocks, summary_text_blocks
from reflector.export.timecode import clock, duration_hms, to_ms

Format = Literal["text", "timestamped", "vtt", "srt", "json", "md", "rttm"]
FORMATS: tuple[Format, ...] = get_args(Format)

PARAGRAPH_PAUSE = 2.0
"""Seconds of silence that start a new paragraph when speakers are unknown."""

_EXTENSIONS: dict[str, Format] = {
    ".txt": "text",
    ".vtt": "vtt",
    ".srt": "srt",
    ".json": "json",
    ".md": "md",
    ".markdown": "md",
    ".rttm": "rttm",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")


def render(transcript: Transcript, fmt: str, name: str | None = None) -> str:
    """The transcript in the named format; one entry point so callers need no per-format code.

    ``name`` names the recording where a format records it (RTTM's file id): the input file's
    name without its extension.
    """
    if fmt == "rttm":
        return to_rttm(transcript, name)
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return renderer(transcript)


def format_for_path(path: str | os.PathLike[str]) -> Format | None:
    """Guess the format from a file extension, so ``-o notes.srt`` needs no ``--format``."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def _with_summary(transcript: Transcript, body: list[str], separator: str) -> str:
    """The summary's paragraphs, then a ``Transcript`` heading and the body."""
    summary = summary_text_blocks(transcript)
    if not summary:
        return _lines(body, separator)
    return _lines(summary, "\n\n") + "\nTranscript\n\n" + _lines(body, separator)


def to_text(transcript: Transcript) -> str:
    """The summary if there is one, then readable paragraphs, one per speaker turn; the notes
    stand in when nothing was said."""
    paragraphs = [
        f"{turn.label}: {turn.text}" if turn.label else turn.text for turn in _turns(transcript)
    ]
    return _with_summary(
        transcript, paragraphs or [squash(note) for note in transcript.notes], "\n\n"
    )


def to_timestamped(transcript: Transcript) -> str:
    """The summary if there is one, then one ``[HH:MM:SS] Speaker N: text`` line per segment,
    easy to scan and to grep."""
    lines = []
    for segment in transcript.segments:
        text = squash(segment.text)
        if text:
            label = _label(transcript, segment.speaker)
            prefix = f"[{clock(to_ms(segment.start))}] " + (f"{label}: " if label else "")
            lines.append(prefix + text)
    return _with_summary(transcript, lines, "\n")


def to_vtt(transcript: Transcript) -> str:
    """WebVTT with ``<v Speaker>`` voice tags, so players can show or style who is talking; the
    summary goes in a ``NOTE`` block, which players do not show."""
    blocks = ["WEBVTT"]
    summary = summary_text_blocks(transcript)
    if summary:
        # A NOTE ends at a blank line and must not contain "-->".
        text = "\n".join(summary).replace("-->", "->")
        blocks.append("NOTE\n" + "\n".join(line for line in text.splitlines() if line.strip()))
    for cue in build_cues(transcript):
        text = _escape_vtt(wrap(cue.text))
        label = _label(transcript, cue.speaker)
        if label:
            text = f"<v {_escape_vtt(label)}>{text}"
        blocks.append(f"{clock(cue.start, '.')} --> {clock(cue.end, '.')}\n{text}")
    return _lines(blocks, "\n\n")


def to_srt(transcript: Transcript) -> str:
    """SubRip, numbered from 1; SRT has no voice tags, so the speaker goes in the text."""
    blocks = []
    for number, cue in enumerate(build_cues(transcript), start=1):
        label = _label(transcript, cue.speaker)
        text = wrap(f"{label}: {cue.text}" if label else cue.text)
        blocks.append(f"{number}\n{clock(cue.start, ',')} --> {clock(cue.end, ',')}\n{text}\n\n")
    return "".join(blocks)


def to_json(transcript: Transcript) -> str:
    """Everything, losslessly: reads back with ``Transcript.model_validate_json``."""
    return transcript.model_dump_json(indent=2)


def to_markdown(transcript: Transcript) -> str:
    """A document to share: title, metadata, notes, the summary, then one paragraph per speaker
    turn."""
    end = max((s.end for s in transcript.segments), default=0.0)
    meta = [f"- Duration: {duration_hms(max(transcript.duration, end))}"]
    if transcript.language:
        meta.append(f"- Language: {_escape_md(transcript.language)}")
    if transcript.model:
        meta.append(f"- Model: {_escape_md(transcript.model)}")
    summary = transcript.summary
    title = _escape_md(squash(summary.title)) if summary else "Transcript"
    blocks = [f"# {title}", "\n".join(meta)]
    notes = [f"> {_escape_md(squash(note))}" for note in transcript.notes if note.strip()]
    if notes:
        blocks.append("\n>\n".join(notes))
    if summary:
        blocks += [*summary_markdown_blocks(transcript, _escape_md), "## Transcript"]
    for turn in _turns(transcript):
        stamp = f"[{clock(to_ms(turn.start))}]"
        head = f"**{_escape_md(turn.label)}** {stamp}" if turn.label else stamp
        blocks.append(f"{head} {_escape_md(turn.text)}")
    return _lines(blocks, "\n\n")


_RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "text": to_text,
    "timestamped": to_timestamped,
    "vtt": to_vtt,
    "srt": to_srt,
    "json": to_json,
    "md": to_markdown,
    "rttm": to_rttm,
}


@dataclass
class _Turn:
    start: float
    speaker: int | None
    label: str | None
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def _turns(transcript: Transcript) -> list[_Turn]:
    """Paragraphs: a new one when the speaker changes or, with no speaker known, at a long pause."""
    turns: list[_Turn] = []
    previous_end = 0.0
    for segment in transcript.segments:
        text = squash(segment.text)
        if not text:
            continue
        last = turns[-1] if turns else None
        same_speaker = last is not None and last.speaker == segment.speaker
        paused = segment.speaker is None and segment.start - previous_end > PARAGRAPH_PAUSE
        if last is None or not same_speaker or paused:
            last = _Turn(segment.start, segment.speaker, _label(transcript, segment.speaker))
            turns.append(last)
        last.parts.append(text)
        previous_end = segment.end
    return turns


def _label(transcript: Transcript, speaker: int | None) -> str | None:
    label = transcript.label(speaker)
    return squash(label) if label else None


def _lines(items: list[str], separator: str) -> str:
    """Join with a final newline, as text files end; nothing at all stays an empty string."""
    return separator.join(items) + "\n" if items else ""


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_md(text: str) -> str:
    """Backslash Markdown's special characters so spoken text cannot turn into markup or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
