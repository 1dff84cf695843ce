"""Meeting intelligence end to end: participants → topics → notes → recap → Markdown.

The transcript is read by the writer once, topic by topic (the "map"), and only the short topic
notes are read again for the title and recap (the "reduce"), so the cost grows linearly with the
meeting and any length fits a small context window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reflector.domain.summary import (
    ActionItems,
    Decision,
    MeetingSummary,
    NextStep,
    SummaryUsage,
    Topic,
)
from reflector.domain.transcript import Transcript
from reflector.intelligence.grounding import GroundingSource
from reflector.intelligence.participants import (
    DEFAULT_NAME_THRESHOLD,
    detect_participants,
    match_expected,
    resolve_names,
)
from reflector.intelligence.segmentation import segment_topics
from reflector.intelligence.utterances import Utterance, utterances
from reflector.intelligence.writers import (
    ExtractiveWriter,
    MeetingWriter,
    RecapInput,
    TopicInput,
    TopicNotes,
    WriterReport,
    merge_rule_items,
    tidy,
)
from reflector.languages import LANGUAGE_NAMES
from reflector.llm.extractive import content_words, keyphrases
from reflector.llm.protocol import LlmUnavailable


@dataclass(frozen=True)
class SummaryOptions:
    """How to summarise; the defaults work offline."""

    language: str | None = None
    """Language of titles and summaries (ISO code); ``None``: the transcript's, else English."""
    name_threshold: float = DEFAULT_NAME_THRESHOLD
    """Detected names at or above this confidence are applied to the transcript."""
    speaker_names: dict[int, str] = field(default_factory=dict)
    """Names a person set; they override detection."""
    expected_names: tuple[str, ...] = ()
    """People expected in the meeting (its calendar's attendees): names detected in the talk
    that belong to one of them are completed and trusted more (``match_expected``)."""
    rule_items: bool = True
    """Add decisions and next steps found by phrasing that the LLM missed."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.name_threshold <= 1.0:
            raise ValueError("name_threshold must be between 0 and 1")


ProgressCallback = Callable[[float], None]
TopicCallback = Callable[[Topic], None]


def _language_name(options: SummaryOptions, transcript: Transcript) -> tuple[str, str]:
    code = (options.language or transcript.language or "en").lower()
    return code, LANGUAGE_NAMES.get(code.split("-")[0], code)


def _best_match(text: str, items: list[Utterance]) -> Utterance | None:
    """The utterance that shares most words with ``text``: where an item was said."""
    wanted = set(content_words(text))
    best, best_score = None, 0.0
    for item in items:
        words = set(content_words(item.text))
        score = len(wanted & words) / (len(wanted) or 1)
        if score > best_score:
            best, best_score = item, score
    return best if best_score >= 0.4 else None


def summarize_meeting(
    transcript: Transcript,
    writer: MeetingWriter | None = None,
    options: SummaryOptions | None = None,
    on_progress: ProgressCallback | None = None,
    on_topic: TopicCallback | None = None,
) -> MeetingSummary:
    """Topics, title, summaries, action items and participant names for ``transcript``.

    ``writer`` defaults to the extractive one. If an LLM backend becomes unavailable midway, the
    rest is written extractively and a note says so. ``on_topic`` receives each topic as soon as
    it is written, for live progress events.
    """
    started = time.perf_counter()
    options = options or SummaryOptions()
    writer = writer or ExtractiveWriter()
    fallback = ExtractiveWriter()
    language_code, language = _language_name(options, transcript)

    detected = match_expected(detect_participants(transcript), options.expected_names)
    overrides = {**transcript.speaker_names, **options.speaker_names}
    participants, names = resolve_names(detected, options.name_threshold, overrides)

    items = utterances(transcript)
    if not items:
        return MeetingSummary(
            title="No speech",
            short_summary="Nothing was said in this recording.",
            long_summary="## Quick recap\n\nNothing was said in this recording.\n",
            participants=participants,
            speaker_names=names,
            language=language_code,
            backend=writer.name,
            notes=["no speech to summarise"],
            seconds=time.perf_counter() - started,
        )

    source = GroundingSource.from_texts([transcript.text], names=names.values())
    spans = segment_topics(items, transcript.duration or None)
    texts = [" ".join(i.text for i in items[s.first : s.last + 1]) for s in spans]
    report = WriterReport()
    if isinstance(writer, ExtractiveWriter) and writer.reason:
        report.fallbacks.append(f"written without an LLM: {writer.reason}")
    topics: list[Topic] = []
    decisions: list[Decision] = []
    steps: list[NextStep] = []
    active: MeetingWriter = writer
    for index, span in enumerate(spans):
        topic_items = items[span.first : span.last + 1]
        others = [t for i, t in enumerate(texts) if i != index]
        topic_input = TopicInput(
            index=index,
            items=topic_items,
            names=names,
            keyphrases=keyphrases(texts[index], 3, others),
            background=others,
        )
        try:
            notes = active.topic_notes(topic_input, source, report, language)
        except LlmUnavailable as error:
            report.fallbacks.append(f"{active.name} unavailable, extractive from here: {error}")
            active = fallback
            notes = active.topic_notes(topic_input, source, report, language)
        if options.rule_items and active is not fallback:
            found_decisions, found_steps = merge_rule_items(notes, topic_input)
            notes = notes.model_copy(
                update={"decisions": found_decisions, "next_steps": found_steps}
            )
        topic = _topic(notes, topic_input, span.start, span.end, transcript)
        topics.append(topic)
        decisions.extend(_decisions(notes, topic_items, topic))
        steps.extend(_next_steps(notes, topic_items, topic))
        if on_topic:
            on_topic(topic)
        if on_progress:
            on_progress((index + 1) / (len(spans) + 1))

    recap_input = RecapInput(
        [t.title for t in topics],
        [t.summary for t in topics],
        decisions,
        steps,
        subjects=[t.keyphrases[0] for t in topics if t.keyphrases],
    )
    try:
        recap = active.recap(recap_input, source, report, language)
    except LlmUnavailable as error:
        report.fallbacks.append(f"{active.name} unavailable for the recap: {error}")
        recap = fallback.recap(recap_input, source, report, language)
    if on_progress:
        on_progress(1.0)
    action_items = ActionItems(decisions=decisions, next_steps=steps)
    return MeetingSummary(
        title=_clause(recap.title),
        short_summary=tidy(recap.summary),
        long_summary=long_summary_markdown(tidy(recap.summary), topics, action_items),
        topics=topics,
        action_items=action_items,
        participants=participants,
        speaker_names=names,
        language=language_code,
        backend=writer.name,
        notes=[*report.fallbacks, *(f"dropped ungrounded {d}" for d in report.dropped)],
        seconds=time.perf_counter() - started,
        usage=SummaryUsage(
            calls=report.stats.calls,
            retries=report.stats.retries,
            failures=report.stats.failures,
            prompt_tokens=report.stats.prompt_tokens,
            cached_tokens=report.stats.cached_tokens,
            completion_tokens=report.stats.completion_tokens,
            llm_seconds=round(report.stats.seconds, 3),
        ),
    )


def _segment_range(items: list[Utterance]) -> tuple[int, int]:
    return items[0].segment, items[-1].segment


def _topic(
    notes: TopicNotes, topic: TopicInput, start: float, end: float, transcript: Transcript
) -> Topic:
    first, last = _segment_range(list(topic.items))
    return Topic(
        title=_clause(notes.title),
        summary=tidy(notes.summary),
        start=round(start, 3),
        duration=round(max(0.0, end - start), 3),
        first_segment=first,
        last_segment=last,
        keyphrases=topic.keyphrases,
    )


def _decisions(notes: TopicNotes, items: list[Utterance], topic: Topic) -> list[Decision]:
    return [
        Decision(
            text=_clause(draft.decision),
            decided_by=draft.decided_by,
            time=_time_said(_best_match(draft.decision, items), topic),
        )
        for draft in notes.decisions
    ]


def _next_steps(notes: TopicNotes, items: list[Utterance], topic: Topic) -> list[NextStep]:
    result = []
    for draft in notes.next_steps:
        said = _best_match(draft.task, items)
        result.append(
            NextStep(
                task=_clause(draft.task),
                owner=draft.owner,
                deadline=draft.deadline,
                context=said.text if said else topic.title,
                time=_time_said(said, topic),
            )
        )
    return result


def _time_said(said: Utterance | None, topic: Topic) -> float:
    """When an item was said: the start of its utterance, or of its topic when none matched."""
    return round(said.start if said else topic.start, 3)


def _clause(text: str) -> str:
    """A title or an item as shown: no surrounding spaces, no final full stop."""
    return text.strip().rstrip(".")


def _clock(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def long_summary_markdown(recap: str, topics: list[Topic], items: ActionItems) -> str:
    """Quick recap, then one section per subject with what was decided and who does what next."""
    lines = ["## Quick recap", "", recap.strip(), ""]
    for topic in topics:
        lines += [f"## {topic.title} ({_clock(topic.start)})", ""]
        paragraph = [topic.summary.strip()]
        for decision in items.decisions:
            if topic.start <= (decision.time or 0) < topic.end or decision.time == topic.start:
                who = f" ({decision.decided_by})" if decision.decided_by else ""
                paragraph.append(f"Decided: {decision.text}{who}.")
        for step in items.next_steps:
            if topic.start <= (step.time or 0) < topic.end or step.time == topic.start:
                who = step.owner or "Unassigned"
                when = f" by {step.deadline}" if step.deadline else ""
                paragraph.append(f"Next step: {who} will {step.task}{when}.")
        lines += [" ".join(paragraph), ""]
    return "\n".join(lines).rstrip() + "\n"
