"""Topic segmentation: where the meeting moves from one subject to the next.

TextTiling (Hearst, 1997) over time blocks of sentences: vocabulary similarity between the blocks
before and after every gap, a *depth* score for how far it dips below the peaks on either side,
and an extra push where someone says a transition ("next up is…", "let's move on to…"). The
deepest gaps that keep topics apart by a minimum length become boundaries.

How many topics depends on the length: a target topic length grows with the square root of the
meeting length, so longer meetings get both more topics and longer ones (a 5-minute call gets
one or two, an hour about eight), and the dips in vocabulary decide within those bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reflector.intelligence.utterances import Utterance
from reflector.llm.extractive import content_words, tfidf_matrix

BLOCK_SECONDS = 20.0
"""TextTiling's pseudo-sentence: sentences pooled into blocks of about this length."""
WINDOW_BLOCKS = 3
"""Blocks compared on each side of a gap."""
TRANSITION_BONUS = 0.35

SPOKEN_TRANSITION = re.compile(
    r"^(?:(?:ok(?:ay)?|so|alright|right|now|good|great)[,.]?\s+)*"
    r"(?:next up|next is|next item|next topic|next on the agenda|moving on|let's move on|"
    r"let's talk about|let's switch to|let's turn to|let's go to|the next item|the next thing|"
    r"now,? the|now let's|on to|another topic|one more topic|last item|finally)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TopicSpan:
    """A run of utterances about one subject: ``items[first:last + 1]``."""

    first: int
    last: int
    start: float
    end: float


def target_topic_seconds(duration: float) -> float:
    """Typical length of one topic in a meeting of ``duration`` seconds.

    1.2 * sqrt(minutes), between 1.5 and 8 minutes: about 2.7 min for a 5-minute call, 3.8 for 10,
    6.6 for 30 and 8 for an hour or more.
    """
    minutes = max(duration, 1.0) / 60.0
    return 60.0 * min(8.0, max(1.5, 1.2 * math.sqrt(minutes)))


def topic_count_bounds(duration: float) -> tuple[int, int]:
    """The fewest and most topics a meeting of ``duration`` seconds is split into."""
    expected = duration / target_topic_seconds(duration)
    return max(1, math.floor(expected * 0.5)), max(1, math.ceil(expected * 1.6))


def text_blocks(items: Sequence[Utterance]) -> list[tuple[int, int]]:
    """(first, last) utterance indices of consecutive ~BLOCK_SECONDS blocks."""
    blocks: list[tuple[int, int]] = []
    first = 0
    for index, item in enumerate(items):
        starts_transition = bool(SPOKEN_TRANSITION.match(item.text)) and index > first
        if starts_transition:
            # Never let a transition sentence sit in the middle of a block.
            blocks.append((first, index - 1))
            first = index
        if item.end - items[first].start >= BLOCK_SECONDS:
            blocks.append((first, index))
            first = index + 1
    if first < len(items):
        blocks.append((first, len(items) - 1))
    return blocks


def _depth_scores(similarities: np.ndarray) -> np.ndarray:
    depths = np.zeros_like(similarities)
    for gap, value in enumerate(similarities):
        left = value
        for other in similarities[gap::-1]:
            if other < left:
                break
            left = other
        right = value
        for other in similarities[gap:]:
            if other < right:
                break
            right = other
        depths[gap] = (left - value) + (right - value)
    return depths


def segment_topics(items: Sequence[Utterance], duration: float | None = None) -> list[TopicSpan]:
    """Split ``items`` into topics; the spans cover every utterance, in order."""
    if not items:
        return []
    total = duration if duration is not None else items[-1].end - items[0].start
    min_topics, max_topics = topic_count_bounds(total)
    blocks = text_blocks(items)
    if len(blocks) < 2 or max_topics == 1:
        return [TopicSpan(0, len(items) - 1, items[0].start, items[-1].end)]
    vectors = tfidf_matrix(
        [[w for i in range(a, b + 1) for w in content_words(items[i].text)] for a, b in blocks]
    )
    gaps = len(blocks) - 1
    similarities = np.zeros(gaps)
    for gap in range(gaps):
        left = vectors[max(0, gap + 1 - WINDOW_BLOCKS) : gap + 1].sum(axis=0)
        right = vectors[gap + 1 : gap + 1 + WINDOW_BLOCKS].sum(axis=0)
        norm = float(np.linalg.norm(left) * np.linalg.norm(right))
        similarities[gap] = float(left @ right) / norm if norm > 0 else 0.0
    depths = _depth_scores(similarities)
    for gap in range(gaps):
        if SPOKEN_TRANSITION.match(items[blocks[gap + 1][0]].text):
            depths[gap] += TRANSITION_BONUS
    # TextTiling's cut-off (mean - sd/2) up to the expected number of topics; beyond it only
    # clearly deeper dips (mean + sd/2) make more topics.
    expected = round(total / target_topic_seconds(total))
    loose = float(depths.mean() - depths.std() / 2)
    strict = float(depths.mean() + depths.std() / 2)
    min_length = 0.4 * target_topic_seconds(total)
    chosen: list[int] = []
    for gap in np.argsort(-depths):
        gap = int(gap)
        if len(chosen) + 1 >= max_topics:
            break
        cutoff = loose if len(chosen) + 1 < expected else strict
        if depths[gap] <= cutoff and len(chosen) + 1 >= min_topics:
            break
        boundary_time = items[blocks[gap + 1][0]].start
        cuts = [items[0].start, items[-1].end, *(items[blocks[g + 1][0]].start for g in chosen)]
        if all(abs(boundary_time - cut) >= min_length for cut in cuts):
            chosen.append(gap)
    starts = sorted(blocks[g + 1][0] for g in chosen)
    spans = []
    firsts = [0, *starts]
    lasts = [s - 1 for s in starts] + [len(items) - 1]
    for first, last in zip(firsts, lasts, strict=True):
        spans.append(TopicSpan(first, last, items[first].start, items[last].end))
    return spans
