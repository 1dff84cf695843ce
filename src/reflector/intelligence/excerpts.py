"""What an LLM reads of a topic: every sentence that carries a fact, plus the most central rest.

On 2 CPU cores a 0.5B model reads about 70 tokens a second, so an hour of meeting (≈12,000 tokens)
would take three minutes to read before writing a word. Meetings are redundant, and the facts a
summary must keep sit in recognisable sentences: decisions, commitments, deadlines, numbers
and dates. Those are always kept (with the sentence before a reply like "Sure, I'll…", so
the request it answers is there too); the remaining budget goes to the most central sentences by
TextRank. Omitted stretches are marked with "[…]" so the model does not read two distant
sentences as one exchange ("extract, then abstract").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from reflector.intelligence.utterances import Utterance, render_dialogue
from reflector.llm.extractive import textrank

GAP_MARK = "[…]"
_FACT = re.compile(
    r"\b(?:decided|decision|agree[ds]?|agreement|let's go with|we'll go with|settled|plan is|"
    r"I'll|I will|I'm going to|can you|could you|would you|action item|owner|deadline|due|"
    r"by (?:the )?(?:end|next|tomorrow)|by \w+day|before \w+day|until|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|tomorrow|next week|"
    r"January|February|March|April|June|July|August|September|October|November|December)\b"
    r"|\d",
    re.IGNORECASE,
)


def _is_fact(item: Utterance) -> bool:
    # Names alone do not make a fact: introductions are full of them and say nothing to summarise.
    return bool(_FACT.search(item.text))


def condense(
    items: Sequence[Utterance],
    names: dict[int, str],
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> str:
    """The topic's dialogue within about ``budget_tokens`` tokens, facts first, in order."""
    full = render_dialogue(items, names)
    if count_tokens(full) <= budget_tokens:
        return full
    sizes = [count_tokens(item.text) + 4 for item in items]  # + speaker label and newline
    keep: set[int] = set()
    used = 0

    def take(index: int) -> bool:
        nonlocal used
        if index in keep or not 0 <= index < len(items):
            return True
        if used + sizes[index] > budget_tokens:
            return False
        keep.add(index)
        used += sizes[index]
        return True

    facts = [i for i, item in enumerate(items) if _is_fact(item)]
    for index in facts:
        take(index)
    for index in facts:
        previous = index - 1
        if previous >= 0 and items[previous].speaker != items[index].speaker:
            take(previous)  # the question a commitment answers, the proposal an "agreed" accepts
    scores = textrank([item.text for item in items])
    for index in sorted(range(len(items)), key=lambda i: -scores[i]):
        if scores[index] <= 0:
            break
        take(index)
    lines: list[str] = []
    previous_index = -1
    run: list[Utterance] = []
    for index in sorted(keep):
        if run and index != previous_index + 1:
            lines.append(render_dialogue(run, names))
            lines.append(GAP_MARK)
            run = []
        run.append(items[index])
        previous_index = index
    if run:
        lines.append(render_dialogue(run, names))
    if keep and min(keep) > 0:
        lines.insert(0, GAP_MARK)
    return "\n".join(lines)
