"""Who writes the words: an LLM (local or remote) or the extractive backend.

A :class:`MeetingWriter` turns one topic's dialogue into notes (title, summary, decisions, next
steps) and the topic notes into a meeting title and recap. :class:`LlmWriter` asks a chat model
for JSON of a fixed shape, validates it, runs the grounding guard, retries with the problems
named, and falls back to :class:`ExtractiveWriter` for whatever still fails, so a summary is
always produced and never contains an invented name, number or date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field

from reflector.domain.summary import Decision, NextStep
from reflector.domain.transcript import speaker_label
from reflector.intelligence.action_rules import (
    find_deadline,
    find_decisions,
    find_next_steps,
    merge_similar,
)
from reflector.intelligence.evidence import (
    DECISION_CUE,
    TASK_CUE,
    detail_in_support,
    find_support,
    person_in_support,
)
from reflector.intelligence.excerpts import condense
from reflector.intelligence.grounding import GroundingSource, ungrounded_claims
from reflector.intelligence.utterances import Utterance, render_dialogue
from reflector.llm.config import LlmConfig, load_chat_model
from reflector.llm.extractive import keyphrases, select_sentences, word_overlap, word_set
from reflector.llm.protocol import ChatMessage, ChatModel, LlmError, LlmUnavailable
from reflector.llm.structured import StructuredOutputError, StructuredStats, generate_structured

MAX_TITLE_WORDS = 10
GENERIC_TITLE_WORDS = word_set(
    """
    team meeting meetings weekly daily monthly sync call standup stand-up update updates
    discussion discussions general review check-in catch-up catchup session notes summary
    agenda internal regular quick recap overview and the a of with on for topics topic items
    item points introduction introductions misc various things highlights key main discussed
    decisions decision next steps action actions meeting's team's our today's
    """
)


# --- what the model is asked for (kept small: an output token costs 0.1-0.2 s on 2 cores) ----


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _limit(chars: int) -> dict[str, int]:
    """A length limit for the schema the model decodes under (not enforced on our own text):
    a safety valve against rambling, far above what the prompt asks for."""
    return {"maxLength": chars}


class DecisionDraft(_Answer):
    decision: str = Field(min_length=3, json_schema_extra=_limit(200))
    decided_by: str | None = Field(default=None, json_schema_extra=_limit(60))


class NextStepDraft(_Answer):
    task: str = Field(min_length=3, json_schema_extra=_limit(160))
    owner: str | None = Field(default=None, json_schema_extra=_limit(60))
    deadline: str | None = Field(default=None, json_schema_extra=_limit(60))


class TopicNotes(_Answer):
    """Notes on one topic, as an LLM writes them (and as the extractive writer fills them)."""

    title: str = Field(min_length=3, json_schema_extra=_limit(80))
    summary: str = Field(min_length=10, json_schema_extra=_limit(400))
    # A topic rarely holds more; the cap stops a small model from listing every remark.
    decisions: list[DecisionDraft] = Field(default_factory=list, max_length=3)
    next_steps: list[NextStepDraft] = Field(default_factory=list, max_length=4)


class MeetingRecap(_Answer):
    title: str = Field(min_length=3, json_schema_extra=_limit(100))
    summary: str = Field(min_length=20, json_schema_extra=_limit(900))


def tidy(text: str) -> str:
    """``text`` ending at a sentence end: a length limit may have cut it mid-sentence."""
    text = " ".join(text.split())
    if not text or text[-1] in ".!?":
        return text
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: end + 1] if end >= len(text) // 2 else text + "…"


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicInput:
    """One topic's talk, ready for a writer."""

    index: int
    items: Sequence[Utterance]
    names: dict[int, str]
    keyphrases: list[str]
    background: Sequence[str] = ()
    """The other topics' text, so keyphrases say what is special about this one."""

    @property
    def dialogue(self) -> str:
        return render_dialogue(self.items, self.names)

    @property
    def text(self) -> str:
        return " ".join(item.text for item in self.items)


@dataclass(frozen=True)
class RecapInput:
    titles: list[str]
    summaries: list[str]
    decisions: list[Decision]
    next_steps: list[NextStep]
    subjects: list[str] = field(default_factory=list)
    """The most characteristic phrase of each topic, as said in the meeting."""


@dataclass
class WriterReport:
    """What happened while writing, for ``MeetingSummary.notes`` and benchmarks."""

    fallbacks: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    stats: StructuredStats = field(default_factory=StructuredStats)


class MeetingWriter(Protocol):
    """Writes topic notes and the meeting recap; the backends are LLM and extractive."""

    @property
    def name(self) -> str: ...

    def topic_notes(
        self, topic: TopicInput, source: GroundingSource, report: WriterReport, language: str
    ) -> TopicNotes: ...

    def recap(
        self, recap: RecapInput, source: GroundingSource, report: WriterReport, language: str
    ) -> MeetingRecap: ...


# --- shared rules --------------------------------------------------------------------------------


def title_problems(title: str) -> list[str]:
    """Why a title is not acceptable: too long, or generic ("Team Meeting")."""
    problems = []
    words = title.split()
    if len(words) > MAX_TITLE_WORDS:
        problems.append(f"title has {len(words)} words; use at most {MAX_TITLE_WORDS}")
    specific = [w for w in re.findall(r"[\w'-]+", title.lower()) if w not in GENERIC_TITLE_WORDS]
    if not specific:
        problems.append(f"title {title!r} is generic; name the subject discussed")
    return problems


def _title_case(phrase: str) -> str:
    small = {"and", "or", "of", "the", "a", "an", "in", "on", "for", "to", "with"}
    words = phrase.split()
    return " ".join(
        w if w.isupper() or (i and w.lower() in small) else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _shorten(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) if len(parts) > words else text


# --- extractive ----------------------------------------------------------------------------------


_CUE_BOOST = re.compile(
    r"\b(decided|decision|agreed|agree|plan is|will|deadline|by (?:mon|tues|wednes|thurs|fri)day|"
    r"priority|risk|blocked|launch|ship|release)\b",
    re.IGNORECASE,
)


class ExtractiveWriter:
    """No model: keyphrases for titles, TextRank sentences for summaries, rules for actions.

    ``reason`` says why no model is used when one was asked for; it becomes a summary note.
    """

    name = "extractive"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    def topic_notes(
        self, topic: TopicInput, source: GroundingSource, report: WriterReport, language: str
    ) -> TopicNotes:
        phrases = topic.keyphrases or keyphrases(topic.text, 3, topic.background)
        title = _title_case(" and ".join(phrases[:2])) if phrases else "Open discussion"
        sentences = [item.text for item in topic.items]
        boost = [1.5 if _CUE_BOOST.search(s) else 1.0 for s in sentences]
        chosen = select_sentences(sentences, 2, boost)
        summary = " ".join(sentences[i] for i in chosen) or (sentences[0] if sentences else "")
        decisions = find_decisions(topic.items, topic.names)
        steps = find_next_steps(topic.items, topic.names)
        return TopicNotes(
            title=_shorten(title, MAX_TITLE_WORDS),
            summary=summary if len(summary) >= 10 else f"Discussion of {title.lower()}.",
            decisions=[DecisionDraft(decision=d.text, decided_by=d.decided_by) for d in decisions],
            next_steps=[
                NextStepDraft(task=s.task, owner=s.owner, deadline=s.deadline) for s in steps
            ],
        )

    def recap(
        self, recap: RecapInput, source: GroundingSource, report: WriterReport, language: str
    ) -> MeetingRecap:
        subjects: list[str] = []
        for subject in recap.subjects or recap.titles:
            if subject and subject.lower() not in {s.lower() for s in subjects}:
                subjects.append(subject)  # unique, in meeting order
        title = _title_case(_join(_fit_words(subjects, MAX_TITLE_WORDS - 2)))
        if not subjects or title_problems(title):
            title = "Meeting notes"  # only for a meeting with no content words at all
        parts = []
        if subjects:
            parts.append("The meeting covered " + _join(subjects) + ".")
        for decision in recap.decisions[:4]:
            who = f" ({decision.decided_by})" if decision.decided_by else ""
            parts.append(f"Decided: {decision.text}{who}.")
        for step in recap.next_steps[:4]:
            parts.append(_next_step_sentence(step))
        summary = " ".join(parts) or " ".join(recap.summaries)[:600]
        if len(summary) < 20:
            summary = f"A short meeting. {summary}".strip()
        return MeetingRecap(title=title, summary=summary.ljust(20))


def _sentence_part(text: str) -> str:
    """An item as it reads after "Decided:" or "Tom will": no capital, no final full stop."""
    text = " ".join(text.split()).rstrip(".!; ")
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower() and first.lower() in _VERB_STARTS:
        return first.lower() + text[len(first) :]
    return text


# Verbs items start with; anything else capitalised may be a name ("Maria will…") and stays.
_VERB_STARTS = word_set(
    """
    add answer ask book build cancel cap change check clean collect confirm contact create cut
    decide define delay deploy design document draft drop email extend finalise finalize finish
    fix follow freeze get hire hold implement improve invite keep launch look make meet merge
    migrate move open organise organize plan prepare present publish push raise reach release
    remove reply report request research review rewrite rotate run schedule send set share ship
    sign sort start stop submit summarise summarize switch talk test train update upgrade use
    verify write
    """
)


def _fit_words(phrases: Sequence[str], words: int) -> list[str]:
    """As many leading phrases (at least one, at most three) as fit in ``words`` words."""
    chosen: list[str] = []
    used = 0
    for phrase in phrases[:3]:
        size = len(phrase.split())
        if chosen and used + size > words:
            break
        chosen.append(phrase if chosen or size <= words else _shorten(phrase, words))
        used += size
    return chosen


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _next_step_sentence(step: NextStep) -> str:
    who = step.owner or "Someone"
    when = f" by {step.deadline}" if step.deadline else ""
    return f"{who} will {step.task}{when}."


# --- LLM -------------------------------------------------------------------------------------


_TOPIC_SYSTEM = """You write meeting notes from transcripts. Transcript lines look like \
"Name: what they said"; "[…]" marks talk that was left out. Answer with JSON only.
- Use only facts stated in the transcript. Never invent names, numbers or dates.
- "title": 2 to 6 words naming the specific subject, never "Team Meeting".
- "summary": one sentence on what was discussed and concluded.
- "decisions": only what the group explicitly decided or agreed ("we decided…", "let's agree \
to…", "final decision…"), as a short sentence that keeps its date or number; "decided_by": the \
person who said it. Opinions, worries and suggestions are not decisions.
- "next_steps": only tasks someone was asked or offered to do ("can you…", "I'll…", "action \
item…"): "task" starting with a verb; "owner": the person who will do it; "deadline": as said \
(like "Friday"), or null.
- Use [] when there are no decisions or next steps.

Example transcript:
Ana: Next up is the office move.
Ben: The movers can only come on a weekday.
Ana: So it's decided, we move on May 3.
Ana: Ben, can you book the van by Monday?
Ben: Sure, I'll book the van by Monday.
Example JSON:
{"title": "Office Move", "summary": "The team discussed when the movers can come and \
chose a moving day.", "decisions": [{"decision": "Move the office on May 3", "decided_by": \
"Ana"}], "next_steps": [{"task": "Book the van", "owner": "Ben", "deadline": "Monday"}]}"""
_TOPIC_PROMPT = "Transcript:\n{dialogue}\n{language_rule}JSON:"
_RECAP_SYSTEM = (
    "You write the title and recap of a meeting from notes on its topics. Answer with JSON "
    "only. Use only facts in the notes; never invent names, numbers or dates."
)
_RECAP_PROMPT = """Topics of the meeting, in order:
{topics}
{items}
{language_rule}JSON with "title": a specific title of at most 10 words naming the main subjects \
(never "Team Meeting"), and "summary": one paragraph of 3 to 5 sentences recapping what was \
discussed and decided."""
_MERGE_PROMPT = """Notes on consecutive parts of one meeting topic:
{parts}
{language_rule}JSON with "title" (2 to 6 words naming the subject), "summary" (1 or 2 sentences \
on the whole topic), "decisions": [] and "next_steps": []."""

EXCERPT_SHARE = 0.3
"""Share of a topic's tokens the local model reads (facts always, then the most central)."""
EXCERPT_TOKENS = (250, 700)
"""Least and most tokens of a topic excerpt."""


def _language_rule(language: str) -> str:
    if language.lower() in ("english", "en"):
        return ""
    return f'Write "title" and "summary" in {language}.\n'


class LlmWriter:
    """Notes from a chat model, validated and grounded, with the extractive writer as net.

    ``condense`` (the default for the local backend) gives the model a fact-preserving excerpt
    of each topic (:mod:`reflector.intelligence.excerpts`) instead of all of it: reading is the
    slowest part on a CPU. A remote backend on a GPU can read everything (``condense=False``);
    topics longer than its context are then split, summarised in parts and merged (map-reduce).
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        attempts: int = 2,
        backend: str = "local",
        condense: bool = True,
        fallback: MeetingWriter | None = None,
    ) -> None:
        self.model = model
        self.attempts = attempts
        self.backend = backend
        self.condense = condense
        self.fallback = fallback or ExtractiveWriter()
        # Room for the instructions and the answer; the rest of the context holds the dialogue.
        self.topic_tokens = max(256, model.context_tokens - 1000)

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.model.name}"

    @staticmethod
    def _grounding_problems(
        fields: Sequence[tuple[str, str, bool]], source: GroundingSource
    ) -> list[str]:
        problems = []
        for label, text, title in fields:
            claims = ungrounded_claims(text, source, title=title)
            if claims:
                problems.append(
                    f"{label} mentions {', '.join(claims)}, which the transcript does not"
                )
        return problems

    def _notes_check(self, source: GroundingSource) -> Callable[[TopicNotes], list[str]]:
        def check(notes: TopicNotes) -> list[str]:
            problems = title_problems(notes.title)
            problems += self._grounding_problems(
                [("title", notes.title, True), ("summary", notes.summary, False)], source
            )
            return problems

        return check

    def _excerpts(self, topic: TopicInput) -> list[str]:
        """The dialogue the model reads, in parts that fit its context (the "map")."""
        if self.condense:
            size = self.model.count_tokens(topic.dialogue)
            low, high = EXCERPT_TOKENS
            budget = min(self.topic_tokens, max(low, min(high, int(size * EXCERPT_SHARE))))
            return [condense(topic.items, topic.names, budget, self.model.count_tokens)]
        dialogue = topic.dialogue
        if self.model.count_tokens(dialogue) <= self.topic_tokens:
            return [dialogue]
        parts: list[str] = []
        current: list[Utterance] = []
        for item in topic.items:
            candidate = render_dialogue([*current, item], topic.names)
            if current and self.model.count_tokens(candidate) > self.topic_tokens:
                parts.append(render_dialogue(current, topic.names))
                current = [item]
            else:
                current.append(item)
        if current:
            parts.append(render_dialogue(current, topic.names))
        return parts

    def topic_notes(
        self, topic: TopicInput, source: GroundingSource, report: WriterReport, language: str
    ) -> TopicNotes:
        rule = _language_rule(language)
        try:
            drafts = [
                generate_structured(
                    self.model,
                    [
                        ChatMessage("system", _TOPIC_SYSTEM),
                        ChatMessage(
                            "user", _TOPIC_PROMPT.format(dialogue=part, language_rule=rule)
                        ),
                    ],
                    TopicNotes,
                    check=self._notes_check(source),
                    attempts=self.attempts,
                    max_tokens=320,
                    stats=report.stats,
                )
                for part in self._excerpts(topic)
            ]
            notes = drafts[0] if len(drafts) == 1 else self._merge(drafts, source, report, rule)
        except LlmUnavailable:
            raise
        except (StructuredOutputError, LlmError) as error:
            report.fallbacks.append(f"topic {topic.index + 1}: extractive notes ({error})")
            return self.fallback.topic_notes(topic, source, report, language)
        return self._ground_items(notes, topic, source, report)

    def _merge(
        self, drafts: list[TopicNotes], source: GroundingSource, report: WriterReport, rule: str
    ) -> TopicNotes:
        """The "reduce" step: one title and summary from the parts' notes; items are kept."""
        parts = "\n".join(f"{i + 1}. {d.title}: {d.summary}" for i, d in enumerate(drafts))
        merged = generate_structured(
            self.model,
            [
                ChatMessage("system", _RECAP_SYSTEM),
                ChatMessage("user", _MERGE_PROMPT.format(parts=parts, language_rule=rule)),
            ],
            TopicNotes,
            check=self._notes_check(source),
            attempts=self.attempts,
            max_tokens=200,
            stats=report.stats,
        )
        return merged.model_copy(
            update={
                "decisions": [d for draft in drafts for d in draft.decisions],
                "next_steps": [s for draft in drafts for s in draft.next_steps],
            }
        )

    def _ground_items(
        self, notes: TopicNotes, topic: TopicInput, source: GroundingSource, report: WriterReport
    ) -> TopicNotes:
        """Keep the items a sentence of the topic supports, with the details it supports.

        A small model often files a task as a decision or the other way round; an item whose
        sentence reads as the other kind is moved there instead of dropped. Items are not
        regenerated: one bad item should not cost another pass over the topic, and the phrasing
        rules can still add what was dropped.
        """
        names = topic.names
        candidates = [(d.decision, "decision", d.decided_by, None) for d in notes.decisions]
        candidates += [(s.task, "task", s.owner, s.deadline) for s in notes.next_steps]
        decisions: list[DecisionDraft] = []
        steps: list[NextStepDraft] = []
        for text, kind, person, deadline in candidates:
            claims = ungrounded_claims(text, source)
            if claims:
                report.dropped.append(f"{kind} {text!r}: {', '.join(claims)}")
                continue
            as_decision = find_support(text, topic.items, DECISION_CUE)
            as_task = find_support(text, topic.items, TASK_CUE)
            support, as_kind = (
                (as_decision, "decision") if kind == "decision" else (as_task, "task")
            )
            other, other_kind = (
                (as_task, "task") if kind == "decision" else (as_decision, "decision")
            )
            if other is not None and (support is None or other.score > support.score):
                support, as_kind = other, other_kind  # the sentence says it is the other kind
            if support is None:
                report.dropped.append(f"{kind} {text!r}: no sentence states it")
                continue
            if person and not person_in_support(person, support, names):
                report.dropped.append(f"person {person!r} of {text!r}")
                person = None
            speaker = speaker_label(topic.items[support.index].speaker, names)
            if as_kind == "decision":
                # Who said it is who decided (or announced) it.
                decisions.append(
                    DecisionDraft(decision=_sentence_part(text), decided_by=person or speaker)
                )
                continue
            if deadline and not detail_in_support(deadline, support):
                report.dropped.append(f"deadline {deadline!r} of {text!r}")
                deadline = None
            if person is None or deadline is None:
                # Fill what the model left out from the supporting turns themselves.
                said = find_next_steps(support.window, names)
                person = person or next((s.owner for s in said if s.owner), None)
                deadline = deadline or find_deadline(support.text)[0]
            if deadline:
                # "Send the runbook by Tuesday" + deadline "Tuesday" would read twice.
                said, without = find_deadline(text)
                if said and said.lower() == deadline.lower():
                    text = without
            steps.append(NextStepDraft(task=_sentence_part(text), owner=person, deadline=deadline))
        return notes.model_copy(update={"decisions": decisions, "next_steps": steps})

    def recap(
        self, recap: RecapInput, source: GroundingSource, report: WriterReport, language: str
    ) -> MeetingRecap:
        rule = _language_rule(language)
        topics = "\n".join(
            f"{i + 1}. {title}: {summary}"
            for i, (title, summary) in enumerate(zip(recap.titles, recap.summaries, strict=True))
        )
        items = ""
        if recap.decisions:
            items += "Decisions:\n" + "\n".join(f"- {d.text}" for d in recap.decisions[:8]) + "\n"
        prompt = _RECAP_PROMPT.format(topics=topics, items=items, language_rule=rule)
        if self.model.count_tokens(prompt) > self.model.context_tokens - 500:
            # Even the topic list is too long: recap groups of topics first (reduce in levels).
            return self._recap_in_groups(recap, source, report, language)

        def check(answer: MeetingRecap) -> list[str]:
            return title_problems(answer.title) + self._grounding_problems(
                [("title", answer.title, True), ("summary", answer.summary, False)], source
            )

        try:
            return generate_structured(
                self.model,
                [ChatMessage("system", _RECAP_SYSTEM), ChatMessage("user", prompt)],
                MeetingRecap,
                check=check,
                attempts=self.attempts,
                max_tokens=300,
                stats=report.stats,
            )
        except LlmUnavailable:
            raise
        except (StructuredOutputError, LlmError) as error:
            report.fallbacks.append(f"meeting recap: extractive ({error})")
            return self.fallback.recap(recap, source, report, language)

    def _recap_in_groups(
        self, recap: RecapInput, source: GroundingSource, report: WriterReport, language: str
    ) -> MeetingRecap:
        size = max(2, len(recap.titles) // 2)
        partial = []
        for first in range(0, len(recap.titles), size):
            group = RecapInput(
                recap.titles[first : first + size], recap.summaries[first : first + size], [], []
            )
            partial.append(self.recap(group, source, report, language))
        merged = RecapInput(
            [p.title for p in partial], [p.summary for p in partial], recap.decisions, []
        )
        return self.recap(merged, source, report, language)


def merge_rule_items(
    notes: TopicNotes, topic: TopicInput
) -> tuple[list[DecisionDraft], list[NextStepDraft]]:
    """The LLM's items checked against, and completed by, the phrasing rules.

    Where a rule matches the same item, its owner, decider and deadline win: they come from an
    explicit "Tom, can you…" or "I'll…", while a small model often credits the person who asked.
    Items only the rules found are added (they are copied from the transcript, so stay safe).
    """
    decisions = merge_similar(
        notes.decisions,
        find_decisions(topic.items, topic.names),
        same=lambda found, decision: _overlaps(found.text, decision.decision),
        merge=lambda decision, found: decision.model_copy(
            update={"decided_by": found.decided_by or decision.decided_by}
        ),
        add=lambda found: DecisionDraft(decision=found.text, decided_by=found.decided_by),
    )
    steps = merge_similar(
        notes.next_steps,
        find_next_steps(topic.items, topic.names),
        same=lambda found, step: _overlaps(found.task, step.task),
        merge=lambda step, found: step.model_copy(
            update={"owner": found.owner or step.owner, "deadline": found.deadline or step.deadline}
        ),
        add=lambda found: NextStepDraft(
            task=found.task, owner=found.owner, deadline=found.deadline
        ),
    )
    return decisions, steps


def _overlaps(a: str, b: str) -> bool:
    return word_overlap(a, b) >= 0.5


def load_writer(config: LlmConfig, data_dir: Path, *, strict: bool = False) -> MeetingWriter:
    """The writer for ``config``; without ``strict``, extractive when the LLM cannot load.

    The fallback is logged, and the summary's ``backend`` field says which writer was used.
    """
    try:
        model = load_chat_model(config, data_dir)
    except LlmUnavailable as error:
        if strict:
            raise
        structlog.get_logger(__name__).warning("llm_unavailable", error=str(error))
        return ExtractiveWriter(reason=str(error))
    if model is None:
        return ExtractiveWriter()
    return LlmWriter(
        model, attempts=config.attempts, backend=config.backend, condense=config.condense
    )
