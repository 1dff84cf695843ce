"""Sentences of a transcript with their speaker, time and segment, the unit everything else uses.

Segments from ASR are caption-sized and may hold several sentences or half of one; topic
boundaries, name cues and summary sentences all work better on sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reflector.domain.transcript import Transcript, speaker_label
from reflector.llm.extractive import split_sentences


@dataclass(frozen=True)
class Utterance:
    """One sentence said by one speaker."""

    segment: int
    """Index into ``Transcript.segments``."""
    speaker: int | None
    start: float
    end: float
    text: str


def utterances(transcript: Transcript) -> list[Utterance]:
    """Every sentence of ``transcript`` in order, timed from its words when it has them."""
    result: list[Utterance] = []
    for index, segment in enumerate(transcript.segments):
        text = " ".join(segment.text.split())
        if not text:
            continue
        sentences = split_sentences(text)
        if len(sentences) == 1:
            result.append(Utterance(index, segment.speaker, segment.start, segment.end, text))
            continue
        # Share the segment's time out by word count (word timings when they line up).
        counts = [len(s.split()) for s in sentences]
        words = segment.words if len(segment.words) == sum(counts) else []
        position = 0
        for sentence, count in zip(sentences, counts, strict=True):
            if words:
                start, end = words[position].start, words[position + count - 1].end
            else:
                total = max(1, sum(counts))
                span = segment.end - segment.start
                start = segment.start + span * position / total
                end = segment.start + span * (position + count) / total
            position += count
            result.append(Utterance(index, segment.speaker, start, end, sentence))
    return result


def render_dialogue(
    items: Sequence[Utterance], names: dict[int, str] | None = None, max_chars: int | None = None
) -> str:
    """``Name: text`` lines, one per speaker turn, as an LLM reads a meeting best.

    Speakers without a name are shown as ``Speaker N`` so owners can still be attributed.
    """
    lines: list[str] = []
    current: int | None = -1
    for item in items:
        if item.speaker != current or not lines:
            label = speaker_label(item.speaker, names) or "Unknown"
            lines.append(f"{label}: {item.text}")
            current = item.speaker
        else:
            lines[-1] += " " + item.text
    text = "\n".join(lines)
    return text if max_chars is None else text[:max_chars]
