"""Meeting transcripts with planted facts, for testing and benchmarking meeting intelligence.

A generated meeting is a :class:`~reflector.domain.Transcript` (segments with word timings at a
plausible speaking rate) plus the truth it was built from: who the speakers are and how their
names are revealed (self-introductions, being addressed), which subjects were discussed when, and
the decisions and next steps (owner, deadline) planted in the talk. Everything is deterministic
for a given seed, so a quality test can assert on recall without flakiness.

Filler talk deliberately contains no names, numbers or dates: every one of those in the
transcript belongs to a planted fact or a known distractor, which makes "invented" names and dates
in a summary easy to detect.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reflector.domain.transcript import Segment, Transcript, Word

if TYPE_CHECKING:
    from reflector.domain.summary import MeetingSummary

WORDS_PER_SECOND = 2.5
"""A relaxed meeting speaking rate (150 words per minute)."""

PARTICIPANT_NAMES: tuple[str, ...] = (
    "Maria",
    "Tom",
    "Priya",
    "Daniel",
    "Aisha",
    "Lukas",
    "Sofia",
    "Kenji",
    "Olivia",
    "Marcus",
)
DISTRACTOR_NAMES: tuple[str, ...] = ("Sarah", "Ahmed", "Claire")
"""People who are talked about but never speak: they must never become a speaker's name."""

_DATES = (
    "March 14",
    "April 3",
    "May 21",
    "June 12",
    "July 8",
    "September 30",
    "October 15",
    "November 4",
)
_DEADLINES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


@dataclass(frozen=True)
class _Subject:
    title: str
    nouns: tuple[str, ...]
    decision: str
    """Decision text with ``{date}`` or ``{number}``."""
    numbers: tuple[int, ...]
    decision_keyword: str
    task: str
    """Next step, in the infinitive without "to"."""
    task_keyword: str


_SUBJECTS: tuple[_Subject, ...] = (
    _Subject(
        "billing migration",
        (
            "billing service",
            "invoice export",
            "payment provider",
            "database cutover",
            "migration runbook",
            "finance team",
        ),
        "move the database cutover to {date}",
        (),
        "cutover",
        "send the migration runbook to the finance team",
        "runbook",
    ),
    _Subject(
        "mobile release",
        (
            "mobile app",
            "release checklist",
            "crash reports",
            "app store review",
            "beta testers",
            "push notifications",
        ),
        "cap the mobile beta at {number} testers",
        (200, 300, 500),
        "beta",
        "update the release checklist",
        "checklist",
    ),
    _Subject(
        "hiring plan",
        (
            "backend role",
            "interview loop",
            "job description",
            "candidate pipeline",
            "recruiting agency",
            "take-home exercise",
        ),
        "open {number} backend roles this quarter",
        (2, 3, 4),
        "backend roles",
        "rewrite the job description",
        "job description",
    ),
    _Subject(
        "security audit",
        (
            "security audit",
            "penetration test",
            "access logs",
            "password policy",
            "vulnerability report",
            "encryption keys",
        ),
        "rotate the encryption keys every {number} days",
        (30, 60, 90),
        "encryption keys",
        "book the penetration test",
        "penetration test",
    ),
    _Subject(
        "customer research",
        (
            "customer interviews",
            "onboarding flow",
            "settings page",
            "survey results",
            "dark mode",
            "export feature",
        ),
        "ship dark mode on {date}",
        (),
        "dark mode",
        "summarise the survey results",
        "survey",
    ),
    _Subject(
        "cloud budget",
        (
            "cloud budget",
            "server costs",
            "annual plan",
            "vendor contracts",
            "reserved capacity",
            "cost report",
        ),
        "cut the cloud budget by {number} percent",
        (10, 15, 20),
        "cloud budget",
        "prepare the cost report",
        "cost report",
    ),
    _Subject(
        "office move",
        (
            "new office",
            "desk booking",
            "moving company",
            "floor plan",
            "meeting rooms",
            "network setup",
        ),
        "move into the new office on {date}",
        (),
        "new office",
        "confirm the moving company",
        "moving company",
    ),
    _Subject(
        "marketing launch",
        (
            "launch campaign",
            "press release",
            "landing page",
            "newsletter",
            "webinar",
            "social media posts",
        ),
        "start the launch campaign on {date}",
        (),
        "campaign",
        "draft the press release",
        "press release",
    ),
    _Subject(
        "support backlog",
        (
            "support tickets",
            "response times",
            "help center",
            "escalation process",
            "chat widget",
            "refund requests",
        ),
        "answer every support ticket within {number} hours",
        (4, 8, 24),
        "ticket",
        "rewrite the escalation process",
        "escalation",
    ),
    _Subject(
        "data platform",
        (
            "data warehouse",
            "nightly jobs",
            "dashboard",
            "query performance",
            "schema changes",
            "reporting pipeline",
        ),
        "freeze schema changes until {date}",
        (),
        "schema",
        "fix the nightly jobs",
        "nightly jobs",
    ),
    _Subject(
        "partner integration",
        (
            "partner API",
            "integration tests",
            "webhook events",
            "sandbox account",
            "rate limits",
            "contract terms",
        ),
        "sign the partner contract for {number} months",
        (6, 12, 18),
        "contract",
        "set up the sandbox account",
        "sandbox",
    ),
    _Subject(
        "developer documentation",
        (
            "developer docs",
            "API reference",
            "tutorials",
            "style guide",
            "code samples",
            "changelog",
        ),
        "publish the new API reference on {date}",
        (),
        "API reference",
        "collect the code samples",
        "code samples",
    ),
)

# Discussion without names, numbers or dates; {a} and {b} are nouns of the current subject.
_FILLER = (
    "I looked at the {a} again this morning and it seems mostly fine.",
    "The main risk with the {a} is still the {b}.",
    "Do we have any data on the {a} yet?",
    "Not yet, but the {a} should be in better shape soon.",
    "I think the {a} depends on the {b}, so we should sequence them carefully.",
    "We talked about the {a} last time as well, and nothing has really changed.",
    "Honestly the {a} has been more work than we expected.",
    "Can we simplify the {a} somehow?",
    "One option is to park the {b} for now and focus on the {a}.",
    "That would help, but then the {a} gets harder to test.",
    "I agree, the {a} is the priority here.",
    "Let me share what I found about the {a}.",
    "The feedback on the {a} was mixed, to be honest.",
    "Some people would rather see the {b} first.",
    "We should write that down so we don't lose track of the {a}.",
    "Is anyone blocked on the {b} at the moment?",
    "A little, mostly waiting for answers about the {a}.",
    "I can pair with whoever picks up the {b}.",
    "The {a} looked good in the demo, so I'm fairly optimistic.",
    "My worry is that the {b} will slip again.",
    "Right, and if the {b} slips, the {a} slips with it.",
    "Let's keep an eye on the {a} and revisit it if it gets worse.",
    "I'd like a second opinion on the {b} before we commit to anything.",
    "Good point, the {b} needs a proper review.",
    "From the customer side the {a} is what people ask about the most.",
    "We could also ask the wider team what they think about the {b}.",
    "I'm not sure the {a} is worth the effort right now.",
    "It is, the {a} unblocks a lot of other work.",
    "Okay, so the {a} stays on the list.",
    "So in short, the {a} is on track but the {b} needs attention.",
)
_DISTRACTOR_LINES = (
    "{name} from legal mentioned that the {a} needs another review.",
    "I spoke to {name} yesterday and they had questions about the {b}.",
    "{name} is out this week, so the {a} waits until they are back.",
)
_OPENERS = (
    "Next up is the {title}.",
    "Let's move on to the {title}.",
    "Okay, the next item is the {title}.",
    "Now, the {title}.",
)
_DECISION_FORMS = (
    ("So it's decided, we {decision}.",),
    ("Let's agree to {decision}. Is everyone fine with that?", "Yes, agreed."),
    ("Final decision then: we {decision}.",),
)
_ACTION_FORMS = (
    ("{owner}, can you {task} by {deadline}?", "Sure, I'll {task} by {deadline}."),
    ("Who takes this one?", "I can. I will {task} before {deadline}."),
    ("Action item for {owner}: {task} by {deadline}.", "Got it."),
)


@dataclass(frozen=True)
class PlantedDecision:
    text: str
    """The decision as spoken, e.g. "move the database cutover to March 14"."""
    keyword: str
    """A phrase any faithful restatement keeps."""
    detail: str
    """The date or number in the decision (it must survive summarisation)."""
    decided_by: str


@dataclass(frozen=True)
class PlantedAction:
    task: str
    keyword: str
    owner: str
    deadline: str


@dataclass(frozen=True)
class SubjectSpan:
    title: str
    start: float
    end: float
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class SyntheticMeeting:
    """A generated meeting and the facts planted in it."""

    transcript: Transcript
    participants: dict[int, str]
    """The true name of every speaker number."""
    subjects: list[SubjectSpan]
    decisions: list[PlantedDecision]
    actions: list[PlantedAction]
    distractors: tuple[str, ...] = field(default=DISTRACTOR_NAMES)
    seed: int = 0

    @property
    def mentioned_names(self) -> set[str]:
        """Every person's name that occurs anywhere in the transcript."""
        text = self.transcript.text
        return {n for n in (*PARTICIPANT_NAMES, *DISTRACTOR_NAMES) if n in text}


class _Builder:
    """Appends sentences as timed segments."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.time = 0.0
        self.segments: list[Segment] = []

    def say(self, speaker: int, text: str) -> None:
        self.time += self.rng.uniform(0.25, 0.9)  # turn-taking gap
        start = self.time
        words = []
        for token in text.split():
            length = max(0.12, len(token) / (6.0 * WORDS_PER_SECOND) * self.rng.uniform(0.8, 1.2))
            words.append(
                Word(
                    start=round(self.time, 3),
                    end=round(self.time + length, 3),
                    text=" " + token,
                    probability=round(self.rng.uniform(0.75, 0.99), 3),
                    speaker=speaker,
                )
            )
            self.time += length + self.rng.uniform(0.02, 0.08)
        end = words[-1].end if words else start
        self.time = end
        confidence = sum(w.probability for w in words) / max(1, len(words))
        self.segments.append(
            Segment(
                start=round(start, 3),
                end=round(end, 3),
                text=" " + text,
                speaker=speaker,
                words=words,
                confidence=round(confidence, 3),
            )
        )


def generate_meeting(
    seed: int = 0, minutes: float = 10.0, speakers: int = 4, subjects: int | None = None
) -> SyntheticMeeting:
    """A meeting of about ``minutes`` with ``speakers`` people and planted facts.

    The number of subjects grows with the length (about one per five minutes, at least two) unless
    given. Each subject gets one decision (with a date or number) and one next step (owner and
    weekday deadline). Speaker 0 chairs; names are revealed by self-introduction ("this is Maria
    speaking", "I'm Tom") or by being addressed ("Priya, ..." then "Thanks, Priya").
    """
    if not 2 <= speakers <= len(PARTICIPANT_NAMES):
        raise ValueError(f"speakers must be between 2 and {len(PARTICIPANT_NAMES)}")
    rng = random.Random(seed)
    names = rng.sample(PARTICIPANT_NAMES, speakers)
    participants = dict(enumerate(names))
    count = subjects if subjects is not None else max(2, round(minutes / 5))
    count = min(count, len(_SUBJECTS))
    chosen = rng.sample(_SUBJECTS, count)
    dates = rng.sample(_DATES, len(_DATES))
    budget = minutes * 60.0
    per_subject = max(30.0, (budget - 30.0) / count)

    b = _Builder(rng)
    _introductions(b, names, rng)
    spans: list[SubjectSpan] = []
    decisions: list[PlantedDecision] = []
    actions: list[PlantedAction] = []
    for index, subject in enumerate(chosen):
        start = b.time
        end_by = start + per_subject
        b.say(0, rng.choice(_OPENERS).format(title=subject.title))
        detail = (
            dates[index % len(dates)]
            if "{date}" in subject.decision
            else str(rng.choice(subject.numbers))
        )
        decision = subject.decision.format(date=detail, number=detail)
        # Plant the facts about two thirds into the subject, after some discussion.
        plant_at = start + per_subject * rng.uniform(0.45, 0.7)
        planted = False
        speaker = rng.randrange(1, speakers)
        while b.time < end_by or not planted:
            if not planted and b.time >= plant_at:
                decisions.append(
                    _plant_decision(b, rng, speakers, names, subject, decision, detail)
                )
                actions.append(_plant_action(b, rng, speakers, names, subject))
                planted = True
                continue
            speaker = _next_speaker(rng, speakers, speaker)
            a, other = rng.sample(subject.nouns, 2)
            if rng.random() < 0.04:
                line = rng.choice(_DISTRACTOR_LINES).format(
                    name=rng.choice(DISTRACTOR_NAMES), a=a, b=other
                )
            else:
                line = rng.choice(_FILLER).format(a=a, b=other)
            b.say(speaker, line[0].upper() + line[1:])
        spans.append(SubjectSpan(subject.title, round(start, 3), round(b.time, 3), subject.nouns))
    b.say(0, "That's everything for today. Thanks everyone, talk to you next week.")
    transcript = Transcript(
        language="en",
        duration=round(b.time + 1.0, 3),
        speech_duration=round(sum(s.duration for s in b.segments), 3),
        segments=b.segments,
        model="synthetic",
    )
    return SyntheticMeeting(transcript, participants, spans, decisions, actions, seed=seed)


def _next_speaker(rng: random.Random, speakers: int, previous: int) -> int:
    choices = [s for s in range(speakers) if s != previous]
    return rng.choice(choices)


def _introductions(b: _Builder, names: list[str], rng: random.Random) -> None:
    chair = names[0]
    b.say(0, f"Hi everyone, this is {chair} speaking, thanks for joining.")
    b.say(0, "Let's do a quick round of introductions before we start.")
    for speaker, name in enumerate(names[1:], start=1):
        if speaker % 2 == 1:
            b.say(speaker, f"Hi, I'm {name}, I work on the platform side.")
            b.say(0, f"Thanks, {name}.")
        else:
            b.say(0, f"{name}, do you want to say hello?")
            b.say(speaker, "Sure, hello everyone, happy to be here.")
            b.say(0, f"Great, thanks {name}.")
    if rng.random() < 0.5:
        b.say(0, "Okay, we have a full agenda, so let's get going.")


def _plant_decision(
    b: _Builder,
    rng: random.Random,
    speakers: int,
    names: list[str],
    subject: _Subject,
    decision: str,
    detail: str,
) -> PlantedDecision:
    decider = rng.randrange(speakers)
    form = rng.choice(_DECISION_FORMS)
    b.say(decider, form[0].format(decision=decision))
    if len(form) > 1:
        b.say(_next_speaker(rng, speakers, decider), form[1])
    return PlantedDecision(decision, subject.decision_keyword, detail, names[decider])


def _plant_action(
    b: _Builder, rng: random.Random, speakers: int, names: list[str], subject: _Subject
) -> PlantedAction:
    owner = rng.randrange(1, speakers)
    deadline = rng.choice(_DEADLINES)
    asker = _next_speaker(rng, speakers, owner)
    first, reply = rng.choice(_ACTION_FORMS)
    b.say(asker, first.format(owner=names[owner], task=subject.task, deadline=deadline))
    b.say(owner, reply.format(task=subject.task, deadline=deadline))
    return PlantedAction(subject.task, subject.task_keyword, names[owner], deadline)


# --- scoring a summary against the planted truth ---------------------------------------------


# Names small models like to invent; none is ever used by the generator.
def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMMON_FIRST_NAMES: frozenset[str] = _word_set(
    """
    John James Robert Michael William David Richard Joseph Thomas Charles Christopher Mark Paul
    Steven Andrew Kevin Brian George Edward Ronald Anthony Jason Matthew Gary Timothy Jose Larry
    Jeffrey Frank Eric Stephen Scott Justin Brandon Benjamin Samuel Alex Alice Bob Carol Dave Emma
    Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Karen Nancy Lisa Betty Margaret
    Sandra Ashley Kimberly Emily Donna Michelle Laura Anna Rebecca Amy Nicole Helen Rachel Jane
    Peter Mike Chris Jim Tim Kate Lucy Max Ben Sam Jack Harry Oliver Noah Liam Ethan Mia Ava
    """
)
_MONTHS_AND_DAYS = _word_set(
    "January February March April June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
)  # "May" is left out: it is far more often the verb


@dataclass(frozen=True)
class FactScore:
    """How much of the planted truth a summary kept, and what it made up."""

    decisions_found: int
    decisions_total: int
    actions_found: int
    """Next steps found with the right owner."""
    deadlines_found: int
    """... and the right deadline."""
    actions_total: int
    names_found: int
    names_total: int
    invented_names: list[str]
    invented_dates: list[str]
    """Month and weekday names, and numbers, that the transcript never contains."""

    @property
    def fact_recall(self) -> float:
        """Share of planted decisions (with their date or number) and owned next steps found."""
        total = self.decisions_total + self.actions_total
        return (self.decisions_found + self.actions_found) / total if total else 1.0

    def as_dict(self) -> dict[str, object]:
        return {
            "fact_recall": round(self.fact_recall, 3),
            "decisions": f"{self.decisions_found}/{self.decisions_total}",
            "next_steps_with_owner": f"{self.actions_found}/{self.actions_total}",
            "next_steps_with_deadline": f"{self.deadlines_found}/{self.actions_total}",
            "names": f"{self.names_found}/{self.names_total}",
            "invented_names": self.invented_names,
            "invented_dates": self.invented_dates,
        }


def score_summary(
    meeting: SyntheticMeeting,
    texts: list[str],
    decisions: list[str],
    next_steps: list[tuple[str, str | None, str | None]],
    speaker_names: dict[int, str],
) -> FactScore:
    """Compare generated output with the planted facts.

    ``texts`` are all generated strings (titles, summaries, items); ``decisions`` the decision
    texts; ``next_steps`` (task, owner, deadline) triples. A decision counts when a decision text
    keeps both its keyword and its date or number; a next step when a task with its keyword has
    the right owner (and, for the deadline count, the right deadline).
    """

    def has(haystack: str, needle: str) -> bool:
        return needle.lower() in haystack.lower()

    decisions_found = sum(
        any(has(d, p.keyword) and has(d, p.detail) for d in decisions) for p in meeting.decisions
    )
    actions_found = deadlines_found = 0
    for action in meeting.actions:
        matches = [s for s in next_steps if has(s[0], action.keyword)]
        owned = [s for s in matches if s[1] and has(s[1], action.owner)]
        actions_found += bool(owned)
        deadlines_found += any(s[2] and has(s[2], action.deadline) for s in owned)
    names_found = sum(speaker_names.get(k) == v for k, v in meeting.participants.items())
    source = meeting.transcript.text
    source_words = {w.lower() for w in re.findall(r"[A-Za-z]+", source)}
    source_numbers = set(re.findall(r"\d+", source))
    generated = " ".join(texts)
    words = re.findall(r"[A-Za-z]+", generated)
    invented_names = sorted(
        {w for w in words if w in COMMON_FIRST_NAMES and w.lower() not in source_words}
        | {w for w in words if w in DISTRACTOR_NAMES and w not in source}
    )
    invented_dates = sorted(
        {w for w in words if w in _MONTHS_AND_DAYS and w.lower() not in source_words}
        | {n for n in re.findall(r"\d+", generated) if n not in source_numbers}
    )
    return FactScore(
        decisions_found=decisions_found,
        decisions_total=len(meeting.decisions),
        actions_found=actions_found,
        deadlines_found=deadlines_found,
        actions_total=len(meeting.actions),
        names_found=names_found,
        names_total=len(meeting.participants),
        invented_names=invented_names,
        invented_dates=invented_dates,
    )


def score_meeting_summary(meeting: SyntheticMeeting, summary: MeetingSummary) -> FactScore:
    """:func:`score_summary` for a :class:`~reflector.intelligence.MeetingSummary`."""
    items = summary.action_items
    texts = [summary.title, summary.short_summary]
    texts += [f"{t.title}. {t.summary}" for t in summary.topics]
    texts += [f"{d.text} {d.decided_by or ''}" for d in items.decisions]
    texts += [f"{s.task} {s.owner or ''} {s.deadline or ''}" for s in items.next_steps]
    return score_summary(
        meeting,
        texts,
        [d.text for d in items.decisions],
        [(s.task, s.owner, s.deadline) for s in items.next_steps],
        summary.speaker_names,
    )
