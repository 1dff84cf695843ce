"""Who is who: speaker numbers mapped to the names people reveal while talking.

Two kinds of cue, each a piece of evidence with a weight:

* self-introduction, about the speaker who says it: "I'm Tom", "my name is Tom",
  "this is Maria speaking", "Tom here";
* address, about a neighbouring turn: "Thanks, Maria" / "great, thanks Maria" name the previous
  speaker; "Priya, can you…" / "…what do you think, Priya?" name the next one.

Evidence for the same (speaker, name) pair is combined as a noisy-or, then each name goes to one
speaker and each speaker gets one name, best pairs first. A name mentioned in passing ("Sarah from
legal said…") is no evidence at all, and a speaker who addresses a name is evidence that they are
not that person. Names are applied to the transcript only above a threshold, and a person's
override always wins.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from reflector.domain.summary import Participant
from reflector.domain.transcript import Transcript
from reflector.intelligence.utterances import Utterance, utterances
from reflector.llm.extractive import word_set

DEFAULT_NAME_THRESHOLD = 0.6
"""One self-introduction, or two independent addresses, are enough to show a name."""

SELF_INTRODUCTION = 0.85
THANKS_PREVIOUS = 0.5
ADDRESS_NEXT = 0.45
SELF_ADDRESS_PENALTY = 0.5
"""Multiplier on a pair when that speaker addresses the name: people don't thank themselves."""
EXPECTED_PERSON = 0.5
"""Weight of a detected name that belongs to one of the people expected in the meeting (its
calendar's attendees), combined with the talk's evidence as another independent cue."""

# Capitalised words that start sentences or name things other than people.
_NOT_NAMES = word_set(
    """
    I Im Hi Hello Hey Yes No Okay Ok Sure Thanks Thank Great Good Well So And But Or Then Now
    Everyone Everybody Guys Team Folks All Sorry Right Yeah Yep Maybe Also Just Really Please
    Let Lets We You He She They It This That There Here What Who Why How When Where Which
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December Speaker Next First Finally Action Item
    God Cheers Morning Afternoon Evening Night Welcome Bye Sir Madam Mr Mrs Ms Dr Happy Sounds
    Agreed Perfect Cool Nice Fine Absolutely Definitely Exactly Anyway Alright Got Honestly
    """
)
_NAME = r"([A-Z][a-z]+(?:-[A-Z][a-z]+)?)"
_SELF = [
    re.compile(
        rf"\b(?:I'm|I am|my name is|my name's|[Tt]his is|[Ii]t's)\s+{_NAME}"
        r"(?=\s*(?:$|[,.!?;]|\s(?:speaking|here|from|with|and|I|joining|calling|on)\b))"
    ),
    re.compile(
        rf"^(?:(?:Hi|Hello|Hey)(?:\s+(?:all|everyone|everybody|there|folks|guys))?,?\s+)?"
        rf"{_NAME}\s+here\b"
    ),
]
_THANKS = re.compile(
    rf"(?:^|[,.!?]\s+|\b(?:great|okay|ok|good|perfect|right),?\s+)"
    rf"(?:[Tt]hanks|[Tt]hank you|[Cc]heers),?\s+{_NAME}\b(?!\s+(?:from|at|in|for)\b)"
)
_ADDRESS_START = re.compile(rf"^{_NAME},\s+\S")
_ADDRESS_END = re.compile(rf"(?:,|\b(?:to you|over to))\s+{_NAME}\s*[?.!]*$")


@dataclass(frozen=True)
class _Evidence:
    speaker: int
    name: str
    weight: float
    sentence: str


def _is_name(word: str) -> bool:
    return word not in _NOT_NAMES and len(word) > 1


def _neighbour(items: Sequence[Utterance], index: int, step: int) -> int | None:
    """The nearest other speaker before (step -1) or after (step +1) ``items[index]``."""
    own = items[index].speaker
    position = index + step
    while 0 <= position < len(items):
        speaker = items[position].speaker
        if speaker is not None and speaker != own:
            return speaker
        if step > 0 and position - index > 2:
            break  # the addressed person answers soon, or we cannot tell who it was
        position += step
    return None


def _collect(items: Sequence[Utterance]) -> tuple[list[_Evidence], set[tuple[int, str]]]:
    evidence: list[_Evidence] = []
    addressed_by: set[tuple[int, str]] = set()
    for index, item in enumerate(items):
        if item.speaker is None:
            continue
        text = item.text.strip()
        for pattern in _SELF:
            for match in pattern.finditer(text):
                if _is_name(match.group(1)):
                    evidence.append(
                        _Evidence(item.speaker, match.group(1), SELF_INTRODUCTION, text)
                    )
        thanked: set[str] = set()
        for match in _THANKS.finditer(text):
            name = match.group(1)
            if not _is_name(name):
                continue
            thanked.add(name)  # "Thanks, Tom." looks back, not forward: no address cue too
            addressed_by.add((item.speaker, name))
            previous = _neighbour(items, index, -1)
            if previous is not None:
                evidence.append(_Evidence(previous, name, THANKS_PREVIOUS, text))
        for pattern in (_ADDRESS_START, _ADDRESS_END):
            match = pattern.search(text)
            if match and _is_name(match.group(1)) and match.group(1) not in thanked:
                name = match.group(1)
                addressed_by.add((item.speaker, name))
                following = _neighbour(items, index, +1)
                if following is not None:
                    evidence.append(_Evidence(following, name, ADDRESS_NEXT, text))
    return evidence, addressed_by


def detect_participants(transcript: Transcript) -> list[Participant]:
    """A :class:`Participant` for every speaker number, with the best-supported name if any."""
    items = utterances(transcript)
    evidence, addressed_by = _collect(items)
    scores: dict[tuple[int, str], float] = defaultdict(float)
    sentences: dict[tuple[int, str], list[str]] = defaultdict(list)
    for item in evidence:
        key = (item.speaker, item.name)
        scores[key] = 1.0 - (1.0 - scores[key]) * (1.0 - item.weight)  # noisy-or
        if item.sentence not in sentences[key]:
            sentences[key].append(item.sentence)
    for key in scores:
        if key in addressed_by:
            scores[key] *= SELF_ADDRESS_PENALTY
    # Competing names for one speaker (or speakers for one name) lower confidence.
    per_speaker: dict[int, float] = defaultdict(float)
    per_name: dict[str, float] = defaultdict(float)
    for (speaker, name), score in scores.items():
        per_speaker[speaker] += score
        per_name[name] += score
    assigned: dict[int, Participant] = {}
    taken: set[str] = set()
    for (speaker, name), score in sorted(scores.items(), key=lambda kv: -kv[1]):
        if speaker in assigned or name in taken:
            continue
        share = score / max(per_speaker[speaker], per_name[name])
        confidence = round(score * share, 3)
        assigned[speaker] = Participant(
            speaker=speaker, name=name, confidence=confidence, evidence=sentences[(speaker, name)]
        )
        taken.add(name)
    return [assigned.get(s, Participant(speaker=s)) for s in sorted(transcript.speakers)]


def _first_name(full_name: str) -> str:
    return full_name.split()[0].lower() if full_name.split() else ""


def match_expected(
    participants: Sequence[Participant], expected: Sequence[str]
) -> list[Participant]:
    """Detected names completed and trusted more with the names of the people expected in the
    meeting (a calendar's attendees): a name that is the whole name, or the first name, of
    exactly one expected person becomes that person's full name ("Tom" → "Tom Baker"), and
    its confidence grows by :data:`EXPECTED_PERSON` as another cue. Names that match nobody,
    or several people, are left as they were."""
    people = [name.strip() for name in expected if name.strip() and "@" not in name]
    matched = []
    for participant in participants:
        name = (participant.name or "").strip()
        if not name or participant.source != "detected":
            matched.append(participant)
            continue
        candidates = [
            person
            for person in people
            if person.lower() == name.lower() or _first_name(person) == name.lower()
        ]
        if len({person.lower() for person in candidates}) != 1:
            matched.append(participant)
            continue
        confidence = 1.0 - (1.0 - participant.confidence) * (1.0 - EXPECTED_PERSON)
        matched.append(
            participant.model_copy(
                update={
                    "name": candidates[0],
                    "confidence": round(confidence, 3),
                    "evidence": [*participant.evidence, f"expected: {candidates[0]}"],
                }
            )
        )
    return matched


def resolve_names(
    participants: Sequence[Participant],
    threshold: float = DEFAULT_NAME_THRESHOLD,
    overrides: dict[int, str] | None = None,
) -> tuple[list[Participant], dict[int, str]]:
    """Participants with overrides applied, and the names to show (confident ones only)."""
    overrides = overrides or {}
    resolved = []
    for participant in participants:
        if participant.speaker in overrides:
            participant = participant.model_copy(
                update={
                    "name": overrides[participant.speaker],
                    "confidence": 1.0,
                    "source": "override",
                }
            )
        resolved.append(participant)
    known = {p.speaker for p in resolved}
    for speaker, name in sorted(overrides.items()):
        if speaker not in known:
            resolved.append(
                Participant(speaker=speaker, name=name, confidence=1.0, source="override")
            )
    names = {
        p.speaker: p.name
        for p in resolved
        if p.name and (p.source == "override" or p.confidence >= threshold)
    }
    return resolved, names


def apply_participant_names(
    transcript: Transcript,
    participants: Sequence[Participant],
    threshold: float = DEFAULT_NAME_THRESHOLD,
    overrides: dict[int, str] | None = None,
) -> Transcript:
    """``transcript`` with ``speaker_names`` set from confident detections and overrides.

    Names already on the transcript (set by a person earlier) are kept unless overridden again.
    """
    _, names = resolve_names(participants, threshold, overrides)
    merged = {**names, **transcript.speaker_names, **(overrides or {})}
    return transcript.model_copy(update={"speaker_names": merged})
