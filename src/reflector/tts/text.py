"""Splitting text into sentences, so the first sentence can be spoken while the rest wait."""

from __future__ import annotations

import itertools
import re

# Abbreviations whose period does not end a sentence (English, Spanish, French, Portuguese,
# German), lower case without the period.
_ABBREVIATIONS = frozenset(
    (
        "mr", "mrs", "ms", "dr", "prof", "sr", "sra", "srta", "jr", "st", "vs", "etc", "e.g",
        "i.e", "fig", "approx", "dept", "inc", "ltd", "co", "mme", "mlle", "dra",
        "profa", "z.b", "bzw", "ca", "nr", "usw",
    )
)  # fmt: skip
# Sentence ends: . ! ? and the ellipsis, ideographic full stop and full-width ! ?; then closing
# quotes and brackets (straight, curly and guillemets).
_STOPS = ".!?\u2026\u3002\uff01\uff1f"
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]"
# French sets a (no-break) space before a closing guillemet: "« Oui. »" ends after the ».
_END = re.compile(f"([{_STOPS}]+(?:[{_CLOSERS}]|[ \u00a0]\u00bb)*)(\\s+)")
_LONGEST_SENTENCE = 400
"""Characters; longer runs are cut at a clause (or word) boundary so no chunk waits too long."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order, stripped, none empty; paragraphs always split."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\r?\n", text):
        start = 0
        for match in _END.finditer(paragraph):
            candidate = paragraph[start : match.end(1)]
            last_word = candidate.rstrip(_STOPS + _CLOSERS.replace("\\", "") + " \u00a0").split()[
                -1:
            ] or [""]
            word = last_word[0]
            if match.group(1).startswith(".") and (
                word.lower() in _ABBREVIATIONS
                or "." in word  # "p.m.", "U.S.": dotted abbreviations
                or (len(word) == 1 and word.isupper())  # an initial: "J. Smith"
            ):
                continue
            if last_word[0].isdigit() and match.group(1) == ".":
                continue  # "the 3. item", ordinal dates in German: not an end
            sentences.append(candidate)
            start = match.end()
        sentences.append(paragraph[start:])
    pieces: list[str] = []
    for sentence in (s.strip() for s in sentences):
        if sentence:
            pieces.extend(_cut_long(sentence))
    return pieces


def _cut_long(sentence: str) -> list[str]:
    parts: list[str] = []
    while len(sentence) > _LONGEST_SENTENCE:
        window = sentence[:_LONGEST_SENTENCE]
        cut = max(window.rfind(mark) for mark in (", ", "; ", ": ", " - ", " \u2013 "))
        if cut < _LONGEST_SENTENCE // 4:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = _LONGEST_SENTENCE - 1
        parts.append(sentence[: cut + 1].strip())
        sentence = sentence[cut + 1 :].strip()
    if sentence:
        parts.append(sentence)
    return parts


LEAD_AFTER_WORDS = 9
"""A first sentence at least this long is spoken in two parts when streaming, so the first
audio comes after a short phrase instead of the whole sentence."""
_LEAD_MIN, _LEAD_MAX = 3, 7
_PHRASE_STARTS = frozenset(
    {"and", "but", "or", "so", "because", "before", "after", "until", "when", "while", "if",
     "to", "for", "with", "without", "about", "from", "that", "which", "who", "where", "than"}
)  # fmt: skip


def split_lead(text: str) -> tuple[str, str]:
    """``(lead, rest)``: a short opening phrase of a long first sentence and everything after.

    Synthesis time grows with the length of what is spoken, so saying the first phrase on its
    own gets audio out several times sooner. The cut goes after a comma, semicolon or colon,
    else before a conjunction or preposition (where a speaker could pause), else after
    ``_LEAD_MAX - 2`` words. ``lead`` is empty when the first sentence is short enough.
    """
    sentences = split_sentences(text)
    if not sentences:
        return "", text
    words = sentences[0].split()
    if len(words) < LEAD_AFTER_WORDS:
        return "", text
    cut = None
    for index in range(_LEAD_MIN - 1, _LEAD_MAX):
        if words[index].endswith((",", ";", ":")):
            cut = index + 1
            break
    if cut is None:
        for index in range(_LEAD_MIN, _LEAD_MAX + 1):
            if words[index].lower().strip("\"'(\u201c\u2018") in _PHRASE_STARTS:
                cut = index
                break
    cut = cut or _LEAD_MAX - 2
    # The first sentence's words are the text's first tokens; the rest keeps the original text
    # from the cut on (spacing and later sentences intact).
    start = next(itertools.islice(re.finditer(r"\S+", text), cut, None)).start()
    return " ".join(words[:cut]), text[start:].strip()
