"""Decisions and next steps found by phrasing alone, for the extractive backend and as a net.

Meetings state decisions and commitments in a small number of ways: "we decided to…",
"let's agree to…", "final decision: …"; "Tom, can you … by Friday?", "I'll … before Monday",
"action item for Tom: …". These rules catch them with the speaker as owner or decider where the
sentence says "I"/"we", and the deadline exactly as said. Everything they return is copied from
the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from reflector.domain.summary import Decision, NextStep
from reflector.domain.transcript import speaker_label
from reflector.intelligence.utterances import Utterance
from reflector.llm.extractive import content_words, word_overlap, word_set

Item = TypeVar("Item")
Found = TypeVar("Found")

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
)
_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DEADLINE = re.compile(
    r"\b(?:by|before|until|till|on|due|no later than)\s+(?P<deadline>"
    rf"(?:next |this |the )?{_DAY}(?: morning| afternoon| evening)?"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?"
    rf"|(?:the )?\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_MONTH}"
    r"|tomorrow(?: morning| afternoon)?|tonight|end of (?:the )?(?:day|week|month|quarter|year)"
    r"|the end of (?:the )?(?:day|week|month|quarter|year)|next (?:week|month|quarter)"
    r"|(?:the )?(?:next|following) (?:meeting|sprint))\b"
)
_NAME = r"(?P<owner>[A-Z][a-z]+)"
_DECISION = re.compile(
    r"(?:^|\b)(?:so,?\s+)?(?:it's decided|we(?:'ve| have)? decided(?: to| that)?|"
    r"(?:the |our |final )?decision(?: is| was)?(?: made)?(?: then)?\s*[:,]|"
    r"let's agree to|we(?:'ve| have)? agreed(?: to| that)?|we(?:'ll| will) go with|"
    r"let's go with|settled on|the plan is to)\s*[:,]?\s*(?:then\s*[:,]?\s*)?(?P<rest>.*)$",
    re.IGNORECASE,
)
_ASSIGN = [
    re.compile(rf"^{_NAME},\s+(?:can|could|would|will) you(?: please)?\s+(?P<task>.+?)[?.!]*$"),
    re.compile(rf"\baction item for {_NAME}\s*[:,-]?\s*(?P<task>.+?)[.!]*$", re.IGNORECASE),
    re.compile(rf"^{_NAME} (?:will|is going to|should)\s+(?P<task>.+?)[.!]*$"),
]
_COMMIT = re.compile(
    r"\b(?:I'll|I will|I'm going to|I am going to|I can take care of|I'll take care of)\s+"
    r"(?P<task>(?!be\b|try\b|think\b|check with\b|get back\b|see\b|pair\b)\w.+?)[.!]*$",
    re.IGNORECASE,
)
_NOT_OWNERS = word_set(
    "Okay So Then And But Yes Sure Thanks Now We You They He She It This That Someone Somebody "
    "Everyone Everybody Anyone Nobody Who Which What Maybe Also Well"
)


def find_deadline(text: str) -> tuple[str | None, str]:
    """The deadline said in ``text`` and the text without it."""
    match = _DEADLINE.search(text)
    if not match:
        return None, text
    without = (text[: match.start()] + text[match.end() :]).strip()
    return match.group("deadline"), re.sub(r"\s+([,.?!])", r"\1", without)


def _clean(task: str) -> str:
    task = task.strip().strip(",;:- ").rstrip("?.!")
    return task[0].lower() + task[1:] if task[:1].isupper() and not task[:2].isupper() else task


def find_decisions(items: Sequence[Utterance], names: dict[int, str]) -> list[Decision]:
    decisions: list[Decision] = []
    for item in items:
        match = _DECISION.search(item.text)
        if not match:
            continue
        rest = re.split(r"(?<=[.!?])\s", match.group("rest"))[0]
        rest = re.sub(r"^(?:we|that we|to)\s+", "", _clean(rest))
        if len(content_words(rest)) < 2:
            continue  # "Yes, agreed." confirms a decision; it does not state one
        decisions.append(
            Decision(text=rest, decided_by=speaker_label(item.speaker, names), time=item.start)
        )
    return _dedupe_decisions(decisions)


def find_next_steps(items: Sequence[Utterance], names: dict[int, str]) -> list[NextStep]:
    steps: list[NextStep] = []
    for item in items:
        text = item.text.strip()
        owner: str | None = None
        task: str | None = None
        for pattern in _ASSIGN:
            match = pattern.search(text)
            if match and match.group("owner") not in _NOT_OWNERS:
                owner, task = match.group("owner"), match.group("task")
                break
        if task is None:
            match = _COMMIT.search(text)
            if match:
                owner, task = speaker_label(item.speaker, names), match.group("task")
        if task is None:
            continue
        deadline, task = find_deadline(task)
        task = _clean(task)
        if len(content_words(task)) < 2:
            continue
        steps.append(
            NextStep(task=task, owner=owner, deadline=deadline, context=text, time=item.start)
        )
    return dedupe_next_steps(steps)


def _similar(a: str, b: str) -> bool:
    return word_overlap(a, b) >= 0.6


def _dedupe_decisions(decisions: list[Decision]) -> list[Decision]:
    kept: list[Decision] = []
    for decision in decisions:
        if not any(_similar(decision.text, other.text) for other in kept):
            kept.append(decision)
    return kept


def merge_similar(
    items: Iterable[Item],
    found: Iterable[Found],
    *,
    same: Callable[[Found, Item], bool],
    merge: Callable[[Item, Found], Item],
    add: Callable[[Found], Item],
) -> list[Item]:
    """``items``, with each of ``found`` merged into the first item it is the ``same`` as, or
    added (as ``add`` makes it) when it matches none."""
    merged = list(items)
    for one in found:
        for index, item in enumerate(merged):
            if same(one, item):
                merged[index] = merge(item, one)
                break
        else:
            merged.append(add(one))
    return merged


def dedupe_next_steps(steps: Sequence[NextStep]) -> list[NextStep]:
    """One item per task: a request and its acceptance merge, keeping what either says."""
    return merge_similar(
        [],
        steps,
        same=lambda step, other: _similar(step.task, other.task),
        merge=lambda other, step: other.model_copy(
            update={"owner": other.owner or step.owner, "deadline": other.deadline or step.deadline}
        ),
        add=lambda step: step,
    )
