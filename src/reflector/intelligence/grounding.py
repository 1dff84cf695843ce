"""The grounding guard: names, numbers and dates in generated text must occur in the transcript.

Small models paraphrase well but also invent: a plausible owner ("John"), a deadline ("by March
15") or a figure ("20%") that nobody said. A people-facing summary must not contain those, so
every generated title, summary and action item is checked against the words of its source; a
failing answer is regenerated with the problems named, and what still fails is dropped (an item)
or replaced by text copied from the transcript (a title or a summary).

What counts as a claim:

* numbers (digits, ordinals, number words up to the tens), compared by value;
* month and weekday names;
* names: capitalised words inside a sentence, and at its start when followed by something a
  person does ("John will…", "Maria's…"), that the source never uses (in any case).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from reflector.llm.extractive import word_set

MONTHS = tuple(
    word_set(
        "january february march april may june july august september october november december"
    )
)
WEEKDAYS = tuple(word_set("monday tuesday wednesday thursday friday saturday sunday"))
_ABBREVIATIONS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september", "oct": "october",
    "nov": "november", "dec": "december", "mon": "monday", "tue": "tuesday", "tues": "tuesday",
    "wed": "wednesday", "thu": "thursday", "thur": "thursday", "thurs": "thursday",
    "fri": "friday", "sat": "saturday", "sun": "sunday",
}  # fmt: skip
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "thousand": 1000, "first": 1, "second": 2, "third": 3,
    "fourth": 4, "fifth": 5, "half": 0.5, "dozen": 12,
}  # fmt: skip
# Words a summary uses at the start of a sentence that are never names, though a meeting may
# not contain them ("Agreed to…", "Discussed…").
_SUMMARY_WORDS = word_set(
    """
    the a an this that these those it its they we our he she his her their there here in on at
    for to of with by from as and or but so if then also after before during while when once
    team meeting participants everyone attendees group speaker speakers discussed discussion
    decided decision decisions agreed agreement reviewed review planned plan proposed proposal
    noted note next steps step action actions item items update updates overview summary recap
    key main topics topic follow follow-up owner owners deadline deadlines task tasks will would
    should need needs needed must can could may might concerns concern risk risks status
    progress timeline budget launch release sync kickoff roadmap planning strategy priorities
    retrospective standup brainstorm brainstorming alignment check-in session workshop agenda
    goals changes new issues questions options approach feedback results
    """
)
_PERSON_VERBS = (
    r"(?:will|would|should|must|can|could|is|was|has|had|to|and|said|says|suggested|proposed|"
    r"decided|agreed|asked|offered|noted|mentioned|explained|confirmed|takes|owns|leads|'s|\u2019s)"
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*|\d+(?:[.,]\d+)*(?:st|nd|rd|th)?")
_SPEAKER_LABEL = re.compile(r"\bSpeaker\s+\d+\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"(\[]\s*|^\s*[-*#]+\s*)$")


def _number_value(token: str) -> float | None:
    lower = token.lower()
    if lower in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[lower])
    digits = re.sub(r"(st|nd|rd|th)$", "", lower).replace(",", "")
    try:
        return float(digits)
    except ValueError:
        return None


@dataclass(frozen=True)
class GroundingSource:
    """The words, numbers and names a generated text may use."""

    words: frozenset[str]
    numbers: frozenset[float]
    names: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_texts(cls, texts: Iterable[str], names: Iterable[str] = ()) -> GroundingSource:
        words: set[str] = set()
        numbers: set[float] = set()
        for text in texts:
            for token in _TOKEN.findall(_SPEAKER_LABEL.sub(" ", text)):
                lower = token.lower().strip("'\u2019-")
                words.add(lower)
                words.add(re.sub(r"(?:'s|\u2019s)$", "", lower))
                value = _number_value(token)
                if value is not None:
                    numbers.add(value)
        name_set = set()
        for name in names:
            name_set.add(name)
            words.update(part.lower() for part in name.split())
        return cls(frozenset(words), frozenset(numbers), frozenset(name_set))

    def allows_name(self, name: str) -> bool:
        """Whether ``name`` is a speaker label, a known name, or made of words in the source."""
        name = name.strip()
        if not name or _SPEAKER_LABEL.fullmatch(name) or name in self.names:
            return True
        return all(part.lower().strip("'\u2019.") in self.words for part in name.split())


def ungrounded_claims(text: str, source: GroundingSource, *, title: bool = False) -> list[str]:
    """The names, numbers and dates in ``text`` that ``source`` does not contain.

    ``title`` relaxes the name test for Title Case text, where every word is capitalised:
    numbers, dates and possessives are still checked there.
    """
    claims: list[str] = []
    cleaned = _SPEAKER_LABEL.sub(" ", text)
    for match in _TOKEN.finditer(cleaned):
        token = match.group()
        lower = token.lower().strip("'\u2019-")
        base = re.sub(r"(?:'s|\u2019s)$", "", lower)
        value = _number_value(token) if token[0].isdigit() else None
        if value is not None:
            if value not in source.numbers:
                claims.append(token)
            continue
        full = _ABBREVIATIONS.get(base.rstrip("."), base)
        if full in MONTHS or full in WEEKDAYS:
            # "may" is a verb far more often than a month: only "May" counts as a date.
            if (full != "may" or token[0].isupper()) and full not in source.words:
                claims.append(token)
            continue
        if not token[0].isupper() or base in source.words or lower in source.words:
            continue
        if title:
            # In Title Case every word is capitalised, so capitals say nothing about names;
            # only a possessive ("John's Plan") still marks a person.
            if base != lower:
                claims.append(token)
            continue
        at_start = bool(_SENTENCE_START.search(cleaned[: match.start()]))
        if not at_start:
            claims.append(token)
            continue
        if base in _SUMMARY_WORDS:
            continue
        if base != lower:  # a possessive ("John's plan") is about a person
            claims.append(token)
            continue
        rest = cleaned[match.end() :]
        if re.match(
            rf"(?:\s+|(?=['\u2019])){_PERSON_VERBS}\b", rest, flags=re.IGNORECASE
        ) or re.match(r"['\u2019]s\b", rest):
            claims.append(token)
    return list(dict.fromkeys(claims))
