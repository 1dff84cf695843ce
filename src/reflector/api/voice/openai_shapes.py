"""Transcripts in the shapes OpenAI's audio API answers with, so its clients read them as is."""

from __future__ import annotations

import math
import string
from typing import Any

from reflector.domain import Transcript
from reflector.export import render


def usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def _speaker_letter(speaker: int | None) -> str:
    # OpenAI names unknown speakers A, B, C ...; past Z come AA, AB ...
    if speaker is None:
        return "A"
    letters = string.ascii_uppercase
    name = ""
    number = speaker
    while True:
        name = letters[number % 26] + name
        number = number // 26 - 1
        if number < 0:
            return name


def verbose(transcript: Transcript, task: str, granularities: set[str]) -> dict[str, Any]:
    """``verbose_json``: segments by default, words when asked for."""
    body: dict[str, Any] = {
        "task": task,
        "language": transcript.language or "",
        "duration": transcript.duration,
        "text": transcript.text,
        "usage": usage(transcript),
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {
                "id": index,
                "seek": 0,
                "start": segment.start,
                "end": segment.end,
                "text": segment.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": round(math.log(max(segment.confidence, 1e-6)), 4),
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }
            for index, segment in enumerate(transcript.segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": word.text.strip(), "start": word.start, "end": word.end}
            for word in transcript.words
        ]
    return body


def diarized(transcript: Transcript) -> dict[str, Any]:
    """``diarized_json``: one segment per speaker turn, speakers named A, B, C ..."""
    return {
        "task": "transcribe",
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": segment.start,
                "end": segment.end,
                "text": segment.text.strip(),
                "speaker": _speaker_letter(segment.speaker),
            }
            for index, segment in enumerate(transcript.segments)
        ],
        "usage": usage(transcript),
    }


def rendered(transcript: Transcript, response_format: str) -> str:
    """``text``, ``srt`` or ``vtt`` bodies, the same as the transcript exports."""
    if response_format == "text":
        return transcript.text + "\n"
    return render(transcript, response_format)
