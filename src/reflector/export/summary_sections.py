"""The summary part of an export: title, recap, topics, action items and participants.

Plain text (for text, timestamped text and WebVTT ``NOTE`` blocks) and Markdown. SRT has no
comment syntax, so a summary there would be shown on screen as a caption; it gets none.
"""

from __future__ import annotations

from collections.abc import Callable

from reflector.domain.summary import MeetingSummary, NextStep
from reflector.domain.transcript import Transcript, speaker_label
from reflector.export.cues import squash
from reflector.export.timecode import clock, to_ms


def _step_text(step: NextStep) -> str:
    owner = f"{squash(step.owner)}: " if step.owner else ""
    deadline = f" (by {squash(step.deadline)})" if step.deadline else ""
    return f"{owner}{squash(step.task)}{deadline}"


def _participant_lines(summary: MeetingSummary) -> list[str]:
    lines = []
    for participant in summary.participants:
        if participant.name:
            number = speaker_label(participant.speaker)
            lines.append(
                f"{number}: {squash(participant.name)} "
                f"({participant.source}, confidence {participant.confidence:.2f})"
            )
    return lines


def summary_text_blocks(transcript: Transcript) -> list[str]:
    """Paragraphs of plain text to put before the transcript; none without a summary."""
    summary = transcript.summary
    if summary is None:
        return []
    blocks = [squash(summary.title), squash(summary.short_summary)]
    if summary.topics:
        lines = [
            f"[{clock(to_ms(t.start))}] {squash(t.title)}: {squash(t.summary)}"
            for t in summary.topics
        ]
        blocks.append("\n".join(["Topics", *lines]))
    decisions = summary.action_items.decisions
    if decisions:
        lines = [
            f"- {squash(d.text)}" + (f" ({squash(d.decided_by)})" if d.decided_by else "")
            for d in decisions
        ]
        blocks.append("\n".join(["Decisions", *lines]))
    steps = summary.action_items.next_steps
    if steps:
        blocks.append("\n".join(["Next steps", *(f"- {_step_text(s)}" for s in steps)]))
    participants = _participant_lines(summary)
    if participants:
        blocks.append("\n".join(["Participants", *participants]))
    return blocks


def summary_markdown_blocks(transcript: Transcript, escape: Callable[[str], str]) -> list[str]:
    """Markdown sections; ``escape`` keeps generated and spoken text from becoming markup."""
    summary = transcript.summary
    if summary is None:
        return []
    blocks = ["## Summary", escape(squash(summary.short_summary))]
    if summary.topics:
        blocks.append("## Topics")
        for topic in summary.topics:
            blocks.append(f"### {escape(squash(topic.title))} ({clock(to_ms(topic.start))})")
            blocks.append(escape(squash(topic.summary)))
    decisions = summary.action_items.decisions
    steps = summary.action_items.next_steps
    if decisions or steps:
        blocks.append("## Action items")
    if decisions:
        lines = [
            f"- {escape(squash(d.text))}" + (f" ({escape(d.decided_by)})" if d.decided_by else "")
            for d in decisions
        ]
        blocks += ["### Decisions", "\n".join(lines)]
    if steps:
        blocks += ["### Next steps", "\n".join(f"- [ ] {escape(_step_text(s))}" for s in steps)]
    participants = _participant_lines(summary)
    if participants:
        blocks += ["## Participants", "\n".join(f"- {escape(p)}" for p in participants)]
    return blocks
