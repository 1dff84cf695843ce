"""NIST RTTM: who spoke when, one ``SPEAKER`` line per speaker turn, for diarization scorers.

``SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`` with times in
seconds. The turns are the diarizer's (``Transcript.speaker_turns``), which cover the speech
between words too; a transcript without them (speakers from an older server job) falls back to
its segments. Speech nobody was assigned to is left out: RTTM has no line for it.
"""

from __future__ import annotations

import re

from reflector.domain.transcript import Transcript, Turn

DEFAULT_FILE_ID = "recording"
_SPACE = re.compile(r"\s+")


def field(value: str, default: str) -> str:
    """A value fit for one whitespace-separated RTTM field."""
    return _SPACE.sub("_", value.strip()) or default


def speaker_field(transcript: Transcript, speaker: int) -> str:
    """The speaker's name if known, else ``speaker_N`` (1-based, like ``Speaker N`` in text)."""
    fallback = f"speaker_{speaker + 1}"
    return field(transcript.speaker_names.get(speaker, fallback), fallback)


def rttm_turns(transcript: Transcript) -> list[Turn]:
    """The turns an RTTM file lists, in time order."""
    if transcript.speaker_turns:
        turns = list(transcript.speaker_turns)
    else:
        turns = [
            Turn(start=s.start, end=s.end, speaker=s.speaker)
            for s in transcript.segments
            if s.speaker is not None
        ]
    # A turn that rounds to no time at all would be a zero-length line, which scorers reject.
    kept = (t for t in turns if round(t.end - t.start, 3) > 0)
    return sorted(kept, key=lambda t: (t.start, t.end))


def to_rttm(transcript: Transcript, file_id: str | None = None) -> str:
    """The transcript's speaker turns as RTTM; ``file_id`` names the recording (its file name
    without extension)."""
    uri = field(file_id or "", DEFAULT_FILE_ID)
    lines = [
        f"SPEAKER {uri} 1 {turn.start:.3f} {turn.end - turn.start:.3f} <NA> <NA> "
        f"{speaker_field(transcript, turn.speaker)} <NA> <NA>"
        for turn in rttm_turns(transcript)
    ]
    return "".join(line + "\n" for line in lines)
