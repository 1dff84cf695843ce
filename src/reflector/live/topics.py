"""Live topics: the subjects of a meeting while it goes on, titled without a model.

Final words are gathered into sentences. The sentences since the last topic form the *open*
topic; it is closed (and announced) when

* the talk clearly moves on: the vocabulary of the ~20 s blocks after some point differs from
  the blocks before it (TextTiling's comparison, as in the offline segmentation, with the same
  push for spoken transitions such as "let's move on to…"), with at least ``min_seconds`` of
  talk before that point and ``lookahead`` seconds after it to judge by; or
* it has grown to ``max_seconds``: it is cut at its least cohesive point (or at its end).

Titles and summaries come from the extractive writer (keyphrases, TextRank sentences), so a
topic costs milliseconds and can never invent anything. These are first drafts: when the
recording is processed, the offline pipeline writes the final topics over the whole meeting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflector.domain import Word
from reflector.domain.segmentation import MAX_PAUSE, MAX_SEGMENT_SECONDS, is_sentence_end
from reflector.intelligence.grounding import GroundingSource
from reflector.intelligence.segmentation import SPOKEN_TRANSITION, TRANSITION_BONUS, text_blocks
from reflector.intelligence.utterances import Utterance
from reflector.intelligence.writers import ExtractiveWriter, TopicInput, WriterReport, tidy
from reflector.llm.extractive import content_words, keyphrases, tfidf_matrix

# Blocks and the transition cue are the offline segmentation's, so live and final topics cut
# alike.
WINDOW_BLOCKS = 3
"""Blocks compared on each side of a candidate boundary (as in the offline segmentation)."""
BACKGROUND_TOPICS = 6
"""Earlier topics whose text makes keyphrases specific to the new one (bounded, for cost)."""


@dataclass(frozen=True)
class LiveTopicOptions:
    min_seconds: float = 30.0
    """No topic is shorter than this (seconds from its first to its last sentence)."""
    max_seconds: float = 90.0
    """An open topic that grows this long is closed at once."""
    lookahead: float = 30.0
    """Talk after a candidate boundary needed to judge that the subject changed."""
    shift: float = 0.95
    """Dissimilarity at or above which the subject has clearly changed: 1 - cosine of the
    vocabularies before and after a point, plus 0.35 when a spoken transition starts there.

    Measured on generated meetings (``reflector_testkit.meeting_scripts``, 12 of 10 minutes,
    when a point first has 30 s of talk after it): inside a subject the score never passed 0.93
    (99th percentile 0.88); at subject changes it was 1.31 at the median with the spoken
    transition, and 0.97 at the median from the vocabulary alone. So 0.95 closes a topic at
    nearly every announced change and at about half of the silent ones, and almost never
    inside a subject; the rest wait for ``max_seconds``."""

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds < self.max_seconds:
            raise ValueError("need 0 < min_seconds < max_seconds")
        if self.lookahead <= 0:
            raise ValueError("lookahead must be positive")


@dataclass(frozen=True)
class LiveTopic:
    """One closed live topic; times are seconds from the start of the stream."""

    index: int
    title: str
    summary: str
    start: float
    duration: float
    keyphrases: tuple[str, ...] = ()
    speakers: tuple[int, ...] = ()
    """Speaker numbers heard in it (live labels), in order of first appearance."""

    @property
    def end(self) -> float:
        return self.start + self.duration

    def event_data(self) -> dict[str, Any]:
        """The ``TOPIC`` event's data: the offline topic's fields, marked ``live``."""
        return {
            "title": self.title,
            "summary": self.summary,
            "start": self.start,
            "duration": self.duration,
            "keyphrases": list(self.keyphrases),
            "speakers": list(self.speakers),
            "index": self.index,
            "live": True,
        }


@dataclass
class LiveTopicTracker:
    """Turns the stream of final words into topics; :meth:`add` returns the ones it closed."""

    options: LiveTopicOptions = field(default_factory=LiveTopicOptions)

    def __post_init__(self) -> None:
        self._sentence: list[Word] = []
        self._open: list[Utterance] = []
        self._texts: list[str] = []
        """Text of every closed topic."""
        self._count = 0
        self._sentences = 0
        self.topics: list[LiveTopic] = []

    def add(self, words: list[Word]) -> list[LiveTopic]:
        """Take newly final words (in order); returns the topics this closed (usually none)."""
        completed = False
        for word in words:
            if self._sentence and self._breaks_before(word):
                completed |= self._end_sentence()
            self._sentence.append(word)
            if is_sentence_end(word):
                completed |= self._end_sentence()
        return self._close_due() if completed else []

    def finish(self) -> list[LiveTopic]:
        """The stream ended: whatever is open becomes the last topic."""
        self._end_sentence()
        closed = self._close_due()
        if self._open:
            closed.append(self._close(len(self._open)))
        return closed

    # --- internals ---------------------------------------------------------------------------

    def _breaks_before(self, word: Word) -> bool:
        """A new sentence starts after a pause, with another speaker, or (for talk that comes
        without punctuation) when the sentence would grow too long."""
        last = self._sentence[-1]
        return (
            word.start - last.end > MAX_PAUSE
            or word.speaker != last.speaker
            or word.end - self._sentence[0].start > MAX_SEGMENT_SECONDS
        )

    def _end_sentence(self) -> bool:
        words, self._sentence = self._sentence, []
        text = " ".join("".join(w.text for w in words).split())
        if not text:
            return False
        # ``segment`` numbers the sentences of the stream: there are no segments yet.
        item = Utterance(self._sentences, words[0].speaker, words[0].start, words[-1].end, text)
        self._open.append(item)
        self._sentences += 1
        return True

    def _close_due(self) -> list[LiveTopic]:
        closed = []
        while self._open:
            cut = self._boundary()
            if cut is None:
                break
            closed.append(self._close(cut))
        return closed

    def _boundary(self) -> int | None:
        """Where to close the open topic now (index of the first sentence after it), if at all."""
        o = self.options
        items = self._open
        start, end = items[0].start, items[-1].end
        if end - start < o.min_seconds:
            return None

        def length_before(cut: int) -> float:
            return items[cut - 1].end - start

        blocks = text_blocks(items)
        cuts = [first for first, _ in blocks[1:]]
        fitting = [
            (score, cut)
            for score, cut in zip(self._shift_scores(items, blocks), cuts, strict=True)
            if o.min_seconds <= length_before(cut) <= o.max_seconds
        ]
        judged = [(s, c) for s, c in fitting if end - items[c].start >= o.lookahead]
        if judged and max(judged)[0] >= o.shift:
            return max(judged)[1]
        if end - start < o.max_seconds:
            return None
        # Too long: cut at the least cohesive block boundary that leaves a full topic before it,
        # else at the last sentence that keeps the topic within ``max_seconds``.
        if fitting:
            return max(fitting)[1]
        cut = len(items) - 1
        while cut > 1 and length_before(cut) > o.max_seconds:
            cut -= 1
        return cut if length_before(cut) >= o.min_seconds else len(items)

    @staticmethod
    def _shift_scores(items: list[Utterance], blocks: list[tuple[int, int]]) -> list[float]:
        """Per gap between blocks: how different the talk after it is from the talk before."""
        if len(blocks) < 2:
            return []
        vectors = tfidf_matrix(
            [[w for i in range(a, b + 1) for w in content_words(items[i].text)] for a, b in blocks]
        )
        scores = []
        for gap in range(len(blocks) - 1):
            left = vectors[max(0, gap + 1 - WINDOW_BLOCKS) : gap + 1].sum(axis=0)
            right = vectors[gap + 1 : gap + 1 + WINDOW_BLOCKS].sum(axis=0)
            norm = float(np.linalg.norm(left) * np.linalg.norm(right))
            similarity = float(left @ right) / norm if norm > 0 else 0.0
            score = 1.0 - similarity
            if SPOKEN_TRANSITION.match(items[blocks[gap + 1][0]].text):
                score += TRANSITION_BONUS
            scores.append(score)
        return scores

    def _close(self, cut: int) -> LiveTopic:
        items, self._open = self._open[:cut], self._open[cut:]
        text = " ".join(item.text for item in items)
        background = self._texts[-BACKGROUND_TOPICS:]
        topic_input = TopicInput(
            index=self._count,
            items=items,
            names={},
            keyphrases=keyphrases(text, 3, background),
            background=background,
        )
        notes = ExtractiveWriter().topic_notes(
            topic_input, GroundingSource.from_texts([text]), WriterReport(), "en"
        )
        speakers = tuple(dict.fromkeys(i.speaker for i in items if i.speaker is not None))
        topic = LiveTopic(
            index=self._count,
            title=notes.title.strip().rstrip("."),
            summary=tidy(notes.summary),
            start=round(items[0].start, 3),
            duration=round(items[-1].end - items[0].start, 3),
            keyphrases=tuple(topic_input.keyphrases),
            speakers=speakers,
        )
        self._texts.append(text)
        self._count += 1
        self.topics.append(topic)
        return topic
