"""Every decision and next step must point at the sentence that states it.

The grounding guard checks that names, numbers and dates occur *somewhere* in the transcript. For
action items that is not enough: a small model happily turns "we should sequence them carefully"
into a decision, or gives a task the deadline of another one ("April 3" from the next sentence).
So an item is kept only if a sentence of its topic supports it (shares most of its words and
sounds like a decision, or like a request or commitment), and its owner, decider and deadline
are kept only if they occur in that sentence or the turns right around it (the request and its
answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reflector.domain.transcript import speaker_label
from reflector.intelligence.grounding import GroundingSource, ungrounded_claims
from reflector.intelligence.utterances import Utterance
from reflector.llm.extractive import content_words

DECISION_CUE = re.compile(
    r"\b(?:decid\w*|decision|agree\w*|let's (?:go|use|move|ship|start|keep|drop|cut|open|"
    r"freeze|sign|publish|answer|rotate|cap|agree)|we(?:'ll| will) (?:go|do|use|move|ship|start)|"
    r"final|settled?|approv\w*|confirm\w*|plan is|going with|go ahead)\b",
    re.IGNORECASE,
)
TASK_CUE = re.compile(
    r"\b(?:I'll|I will|I'm going to|I can take|can you|could you|would you|will you|please|"
    r"action item|needs? to|has to|have to|take care|owner|assign\w*|by (?:the )?(?:end|next)|"
    r"(?:by|before|until) \w+day)\b",
    re.IGNORECASE,
)
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Support:
    """The sentence an item rests on, and the turns around it."""

    index: int
    window: Sequence[Utterance]
    score: float
    """Share of the item's words the sentence contains."""

    @property
    def text(self) -> str:
        return " ".join(item.text for item in self.window)


def find_support(
    text: str, items: Sequence[Utterance], cue: re.Pattern[str], reach: int = 1
) -> Support | None:
    """The sentence sharing most of ``text``'s words (at least half), with the neighbours
    that are about the same thing (the request and its answer), if one of them has ``cue``.

    Neighbours that share fewer words do not count: that is where a deadline of the previous
    item, or a decision cue of another subject, would come from.
    """
    wanted = set(content_words(text))
    if not wanted:
        return None

    def overlap(item: Utterance) -> float:
        return len(wanted & set(content_words(item.text))) / len(wanted)

    best: Support | None = None
    best_score = 0.0
    for index, item in enumerate(items):
        score = overlap(item)
        if score < MIN_OVERLAP or score <= best_score:
            continue
        window = [
            other
            for other in items[max(0, index - reach) : index + reach + 1]
            if other is item or overlap(other) >= 0.3
        ]
        if any(cue.search(other.text) for other in window):
            best, best_score = Support(index, window, score), score
    return best


def person_in_support(person: str, support: Support, names: dict[int, str]) -> bool:
    """Whether ``person`` speaks in, or is named in, the supporting turns."""
    wanted = person.strip().lower()
    for item in support.window:
        label = speaker_label(item.speaker, names)
        if label and label.lower() == wanted:
            return True
    return re.search(rf"\b{re.escape(person.strip())}\b", support.text) is not None


def detail_in_support(detail: str, support: Support) -> bool:
    """Whether the dates and numbers of ``detail`` (a deadline) are said in the supporting turns."""
    local = GroundingSource.from_texts([support.text])
    if ungrounded_claims(detail, local):
        return False
    words = content_words(detail)
    return not words or any(w in set(content_words(support.text)) for w in words)
