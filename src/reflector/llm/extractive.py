"""Model-free text ranking: TextRank over sentences and keyphrases, for the ``extractive`` backend.

It needs no weights and no network, so it always works: it is the backend when no LLM is
configured and the safety net when an LLM answer fails validation or grounding. Whatever it returns
is copied from the transcript, so it can never invent a name, number or date.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: long word lists stay readable in source."""
    return frozenset(text.split())


STOPWORDS = word_set(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
    not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's when when's where
    where's which while who who's whom why why's will with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves
    okay ok yeah yes yep sure right well just really actually basically like know think thing
    things going gonna want get got good great mean maybe also still lot lots kind sort um uh
    oh hmm hi hello thanks thank bye everyone anyone someone something anything everything one
    us let see say said tell look looked make made take time way much many need needs bit
    little pretty quite again last next first able already now today tomorrow yesterday week
    honestly mostly fairly whoever whatever stays stay share found point
    """
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")
_PHRASE_BREAK = re.compile(r"[.,;:!?()\"\u2014\u2013]|\s-\s")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, split after ., ! or ? followed by a capital or a digit."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _stem(word: str) -> str:
    # Plural folding is enough to join "ticket"/"tickets" without a stemmer dependency.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Lower-cased, plural-folded words of ``text`` without stopwords and one-letter words."""
    words = []
    for match in _WORD.finditer(text):
        word = match.group().lower().strip("'-")
        if len(word) > 1 and word not in STOPWORDS:
            words.append(_stem(word))
    return words


def word_overlap(a: str, b: str) -> float:
    """The share of the shorter text's content words that the other text has too: 1.0 when
    one says all the other does (a short item and its longer wording), 0.0 when either has no
    content words. How the action-item rules tell two wordings of one item apart."""
    left, right = set(content_words(a)), set(content_words(b))
    if not left or not right:
        return 0.0
    return len(left & right) / min(len(left), len(right))


def tfidf_matrix(documents: Sequence[Sequence[str]]) -> np.ndarray:
    """Row-normalised TF-IDF vectors (one row per document of content words)."""
    vocabulary: dict[str, int] = {}
    for document in documents:
        for word in document:
            vocabulary.setdefault(word, len(vocabulary))
    matrix = np.zeros((len(documents), max(1, len(vocabulary))), dtype=np.float32)
    for row, document in enumerate(documents):
        for word, count in Counter(document).items():
            matrix[row, vocabulary[word]] = 1.0 + math.log(count)
    document_frequency = (matrix > 0).sum(axis=0)
    idf = np.log((1.0 + len(documents)) / (1.0 + document_frequency)) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-9)


def pagerank(similarity: np.ndarray, damping: float = 0.85, iterations: int = 60) -> np.ndarray:
    """Stationary scores of a weighted undirected graph (TextRank's ranking step)."""
    size = similarity.shape[0]
    if size == 0:
        return np.zeros(0)
    weights = similarity.copy()
    np.fill_diagonal(weights, 0.0)
    out_degree = weights.sum(axis=1, keepdims=True)
    # Isolated sentences jump uniformly, so they keep the teleport share only.
    transition = np.where(out_degree > 0, weights / np.maximum(out_degree, 1e-12), 1.0 / size)
    scores = np.full(size, 1.0 / size)
    for _ in range(iterations):
        updated = (1 - damping) / size + damping * transition.T @ scores
        if np.abs(updated - scores).sum() < 1e-6:
            return updated
        scores = updated
    return scores


def textrank(
    sentences: Sequence[str], boost: Sequence[float] | None = None, min_words: int = 4
) -> np.ndarray:
    """A TextRank score per sentence (cosine of TF-IDF vectors as edge weights).

    ``boost`` multiplies scores, e.g. to favour sentences with decision cues. Sentences with fewer
    than ``min_words`` content words ("Got it.") score zero: they are never a good summary line.
    """
    documents = [content_words(s) for s in sentences]
    if not documents:
        return np.zeros(0)
    matrix = tfidf_matrix(documents)
    scores = pagerank(matrix @ matrix.T)
    lengths = np.array([len(d) for d in documents])
    scores = np.where(lengths >= min_words, scores, 0.0)
    if boost is not None:
        scores = scores * np.asarray(boost, dtype=np.float64)
    return scores


def select_sentences(
    sentences: Sequence[str],
    count: int,
    boost: Sequence[float] | None = None,
    diversity: float = 0.6,
) -> list[int]:
    """Indices of ``count`` central, mutually different sentences, in reading order.

    Maximal marginal relevance over TextRank: each pick trades centrality against similarity to
    what was already picked, so a summary does not say the same thing twice.
    """
    if count <= 0 or not sentences:
        return []
    scores = textrank(sentences, boost)
    if scores.max(initial=0.0) <= 0:
        return list(range(min(count, len(sentences))))
    matrix = tfidf_matrix([content_words(s) for s in sentences])
    relevance = scores / scores.max()
    chosen: list[int] = []
    candidates = [i for i in range(len(sentences)) if scores[i] > 0]
    while candidates and len(chosen) < count:
        if chosen:
            redundancy = (matrix[candidates] @ matrix[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(candidates))
        marginal = relevance[candidates] - diversity * redundancy
        best = candidates[int(np.argmax(marginal))]
        chosen.append(best)
        candidates.remove(best)
    return sorted(chosen)


def _candidate_phrases(text: str, max_words: int) -> list[tuple[str, list[str]]]:
    """Runs of content words between stopwords and punctuation, with their surface form."""
    phrases = []
    for chunk in _PHRASE_BREAK.split(text):
        run: list[str] = []
        for match in _WORD.finditer(chunk + " ."):
            word = match.group()
            lower = word.lower()
            if lower in STOPWORDS or len(lower) < 2 or lower.isdigit():
                if run:
                    phrases.append(run)
                run = []
            else:
                run.append(word)
        if run:
            phrases.append(run)
    result = []
    for run in phrases:
        # Long runs are usually several phrases glued together; keep their tail (the head noun).
        run = run[-max_words:]
        result.append((" ".join(run), [_stem(w.lower()) for w in run]))
    return result


def keyphrases(
    text: str,
    top_k: int = 5,
    background: Sequence[str] = (),
    max_words: int = 3,
) -> list[str]:
    """The ``top_k`` phrases that best characterise ``text``, most characteristic first.

    A phrase scores by how often it occurs, weighted by how specific its words are to ``text``
    compared with ``background`` texts (e.g. the other topics of the same meeting), with a bonus
    for multi-word phrases, which name things ("press release") better than single words.
    """
    candidates = _candidate_phrases(text, max_words)
    if not candidates:
        return []
    word_counts = Counter(w for _, words in candidates for w in words)
    background_docs = [set(content_words(b)) for b in background]
    surface: dict[tuple[str, ...], Counter[str]] = {}
    phrase_counts: Counter[tuple[str, ...]] = Counter()
    for phrase, words in candidates:
        key = tuple(words)
        phrase_counts[key] += 1
        surface.setdefault(key, Counter())[phrase] += 1

    def idf(word: str) -> float:
        if not background_docs:
            return 1.0
        containing = sum(word in doc for doc in background_docs)
        return math.log((1 + len(background_docs)) / (1 + containing)) + 1.0

    scored = []
    for key, count in phrase_counts.items():
        specificity = sum(math.log1p(word_counts[w]) * idf(w) for w in key) / len(key)
        scored.append((count * specificity * (1.0 + 0.6 * (len(key) - 1)), key))
    scored.sort(key=lambda item: -item[0])
    chosen: list[str] = []
    used: set[str] = set()
    for _, key in scored:
        if used.issuperset(key):
            continue  # a sub-phrase of something already chosen adds nothing
        form = surface[key].most_common(1)[0][0]
        chosen.append(form)
        used.update(key)
        if len(chosen) == top_k:
            break
    return chosen
