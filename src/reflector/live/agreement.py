"""LocalAgreement-2: commit the words two consecutive hypotheses agree on.

Whisper re-decodes a growing audio buffer every fraction of a second. The words at the end of a
hypothesis are unstable (a word cut in half, a guess at what comes next); words that two
successive decodes of longer and longer audio agree on almost never change again. So the longest
common prefix of the last two hypotheses, after what is already committed, becomes *final*, and
the rest of the newest hypothesis is shown as *interim*.

Two guards keep the committed words a clean stream, whatever a decode says:

* the seam between committed and new words is only found near the committed end, so a phrase
  that recurs later in a hypothesis neither skips the words before it nor re-opens old text;
* a run of words that repeats words already said and is squeezed into a sliver of audio (Whisper
  running on at the end of a short buffer, saying the prompt's sentence again) is dropped, so no
  sentence is committed twice.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reflector.domain import Word

_NOT_WORD = re.compile(r"[^\w']+")
_SEAM_WINDOW = 2.0
"""Seconds before the committed end in which the committed tail is looked for."""
_SEAM_WORDS = 5
_SEAM_DRIFT = 1.0
"""Seconds a re-decoded committed word may end away from where it was committed."""
_REPEAT_WORDS = 3
"""A run this long that repeats words already said may be a decoder running on."""
_REPEAT_HISTORY = 60
"""Committed words a run is compared with."""
_SQUEEZED = 0.1
"""Mean seconds per word below which a run is squeezed: nobody says three words in 0.3 s."""


def word_key(text: str) -> str:
    """How words are compared: case, punctuation and spacing do not make two words differ."""
    return _NOT_WORD.sub("", text.lower())


@dataclass
class LocalAgreement:
    """State of one stream: committed words and the previous hypothesis's uncommitted tail."""

    committed: list[Word] = field(default_factory=list)
    previous: list[Word] = field(default_factory=list)
    """The last hypothesis, minus what was committed from it."""
    tolerance: float = 0.25
    """Seconds a re-decoded word may start before the last committed end and still be new."""

    @property
    def committed_end(self) -> float:
        return self.committed[-1].end if self.committed else 0.0

    def _new_part(self, hypothesis: list[Word]) -> list[Word]:
        """The hypothesis after what is already committed.

        Whisper's word times drift by a few tenths of a second between decodes, so the seam is
        found by the words themselves: the committed tail (up to five words) is looked for near
        the committed end, and what follows it is new. The last committed word may come back
        heard differently ("an ill-disposed" decoded again as "an old-sposed"): when the
        words before it are found and the next words lie over its time, those words are the
        old one, not new ones. Only when neither is found does time decide. A piece of a
        hyphenated word ("-disposed") always goes with the word it continues, so a word heard
        again is never half new.
        """
        if not self.committed:
            return list(hypothesis)
        end = self.committed_end
        recent = [w for w in hypothesis if w.end > end - _SEAM_WINDOW]
        keys = [word_key(w.text) for w in recent]
        tail = [word_key(w.text) for w in self.committed[-_SEAM_WORDS:]]
        for size in range(min(len(tail), len(keys)), 0, -1):
            for index in _found(keys, tail[-size:]):
                # Only where the seam can be: the same words said again later (a repeated
                # phrase, or a copy squeezed in at the buffer's end) are not the seam. A
                # single common word ("the") is trusted only right at the committed end.
                drift = abs(recent[index + size - 1].end - end)
                if drift <= (_SEAM_DRIFT if size >= 2 else self.tolerance * 2):
                    return recent[index + size :]
        replaced = self._after_replaced_last_word(recent)
        if replaced is not None:
            return replaced
        # By time: a word mostly after the committed end is new (word starts drift earlier).
        return _flat(
            [u for u in _units(hypothesis) if (u[0].start + u[-1].end) / 2 >= end - self.tolerance]
        )

    def _after_replaced_last_word(self, recent: list[Word]) -> list[Word] | None:
        """The words after the committed end when the hypothesis has the committed words before
        the last one, then other words over the last one's time: the last word heard again,
        differently ("an ill-disposed" as "an old-sposed"). ``None`` when it has not."""
        last = _units(self.committed[-_SEAM_WORDS - 2 :])[-1]
        before = self.committed[-len(last) - _SEAM_WORDS : -len(last)]
        if len(before) < 2:
            return None
        units = _units(recent)
        keys = [word_key(w.text) for w in recent]
        starts = list(itertools.accumulate((len(u) for u in units), initial=0))
        for size in range(min(_SEAM_WORDS, len(before)), 1, -1):
            pattern = [word_key(w.text) for w in before[-size:]]
            for index in _found(keys, pattern):
                after = index + size
                drift = abs(recent[after - 1].end - before[-1].end)
                if after not in starts[:-1] or drift > _SEAM_DRIFT:
                    continue
                following = units[starts.index(after) :]
                if _middle(following[0][0]) < self.committed_end:
                    return self._past_committed_end(following)
        return None

    def _past_committed_end(self, units: list[list[Word]]) -> list[Word]:
        """The words of ``units`` after those lying over the last committed word's time: it
        may come back as two words ("ill-disposed" as "old supposed"). Pieces of a hyphenated
        word past the committed end are new ("ill" final, then "old -sposed")."""
        end = self.committed_end
        new: list[Word] = []
        for index, (head, *pieces) in enumerate(units):
            if _middle(head) >= end:
                return new + _flat(units[index:])
            new += [piece for piece in pieces if _middle(piece) >= end]
        return new

    def _without_repeats(self, new: list[Word]) -> list[Word]:
        """``new`` without runs that repeat what was already said, squeezed into too little
        audio to have been said again: Whisper, prompted with the committed text, sometimes
        runs on past the speech and says a sentence of it again in the last few hundredths of
        a second of the buffer. A repeat at a speaking pace is kept (people repeat
        themselves)."""
        said = [word_key(w.text) for w in self.committed[-_REPEAT_HISTORY:]]
        keys = [word_key(w.text) for w in new]
        kept: list[Word] = []
        index = 0
        while index < len(new):
            size = _repeat_at(keys, index, said + keys[:index])
            run = new[index : index + size]
            if size >= _REPEAT_WORDS and _squeezed(run):
                index += size
                continue
            kept.append(new[index])
            index += 1
        return kept

    def insert(
        self, hypothesis: list[Word], settled: Callable[[Word], bool] | None = None
    ) -> tuple[list[Word], list[Word]]:
        """Take a new hypothesis (absolute times); return (newly final words, interim words).

        Agreement stops before the first word that ``settled`` rejects: a word the hypothesis
        carries over from the previous one rather than heard again (it agrees only because it
        was copied)."""
        new = self._without_repeats(self._new_part(hypothesis))
        agreed = 0
        for old, current in zip(self.previous, new, strict=False):
            if word_key(old.text) != word_key(current.text) or not word_key(current.text):
                break
            if settled is not None and not settled(current):
                break
            agreed += 1
        final = self._commit(new[:agreed])
        self.previous = new[agreed:]
        return final, list(self.previous)

    def commit_until(self, time: float) -> list[Word]:
        """Commit the pending words that end by ``time`` (stream seconds), agreed or not.

        A word the decoder has heard with a second or more of speech after it rarely changes,
        but two decodes of unsteady audio can disagree about it for many steps: this bounds
        how long a word can stay interim."""
        count = 0
        while count < len(self.previous) and self.previous[count].end <= time:
            count += 1
        final = self._commit(self.previous[:count])
        self.previous = self.previous[count:]
        return final

    def flush(self, everything: bool = True) -> list[Word]:
        """Commit the pending interim words (end of an utterance or of the stream).

        Without ``everything``, a last word Whisper marked as cut off ("s-") stays pending:
        the next decode, with more audio, will hear all of it.
        """
        pending = self.previous
        keep: list[Word] = []
        if not everything and pending and pending[-1].text.strip().endswith("-"):
            pending, keep = pending[:-1], pending[-1:]
        final = self._commit(pending)
        self.previous = keep
        return final

    def _commit(self, words: list[Word]) -> list[Word]:
        """Append to the committed words, never overlapping them in time (decodes disagree on
        word boundaries by a few hundredths of a second)."""
        placed = []
        for word in words:
            start = max(word.start, self.committed_end)
            word = word.model_copy(update={"start": start, "end": max(start, word.end)})
            self.committed.append(word)
            placed.append(word)
        return placed


def _repeat_at(keys: list[str], index: int, said: list[str]) -> int:
    """Length of the longest run of ``keys`` from ``index`` that occurs in ``said``."""
    best = 0
    for start in range(len(said)):
        size = 0
        while (
            index + size < len(keys)
            and start + size < len(said)
            and keys[index + size]
            and keys[index + size] == said[start + size]
        ):
            size += 1
        best = max(best, size)
    return best


def _units(words: list[Word]) -> list[list[Word]]:
    """``words`` grouped into whole words: a piece of a hyphenated word ("-disposed", with no
    space before it) joins the word before it."""
    units: list[list[Word]] = []
    for word in words:
        if units and word.text.startswith("-"):
            units[-1].append(word)
        else:
            units.append([word])
    return units


def _middle(word: Word) -> float:
    return (word.start + word.end) / 2


def _flat(units: list[list[Word]]) -> list[Word]:
    return [word for unit in units for word in unit]


def _found(keys: list[str], pattern: list[str]) -> list[int]:
    """Where ``pattern`` occurs in ``keys``, first to last."""
    size = len(pattern)
    return [i for i in range(len(keys) - size + 1) if keys[i : i + size] == pattern]


def _squeezed(run: list[Word]) -> bool:
    return (run[-1].end - run[0].start) / len(run) < _SQUEEZED
