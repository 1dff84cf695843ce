"""Live translation: final words into sentences, sentences into captions per language."""

from __future__ import annotations

import pytest

from reflector.domain import Word
from reflector.live.translation import (
    MAX_SENTENCE_WORDS,
    CaptionTranslator,
    SentenceAssembler,
)
from reflector.settings import Settings
from reflector.translation import ApertiumTranslator, build_translator


def words(text: str, start: float = 0.0, gap: float = 0.0, speaker: int = 0) -> list[Word]:
    result, time = [], start
    for token in text.split():
        result.append(Word(start=time, end=time + 0.3, text=" " + token, speaker=speaker))
        time += 0.3 + gap
    return result


def test_sentences_end_at_full_stops_even_across_updates():
    assembler = SentenceAssembler()
    first = words("Good morning everyone. The billing")
    assert [s.text for s in assembler.add(first)] == ["Good morning everyone."]
    rest = words("service went live on Tuesday! Great", start=first[-1].end + 0.1)
    done = assembler.add(rest)
    assert [s.text for s in done] == ["The billing service went live on Tuesday!"]
    assert done[0].start == first[3].start and done[0].end == rest[-2].end
    assert [s.text for s in assembler.flush()] == ["Great"]
    assert assembler.flush() == []


def test_a_long_pause_or_a_run_on_sentence_is_cut():
    assembler = SentenceAssembler()
    said = words("so we waited", gap=0.0) + words("and then it worked", start=5.0)
    assert [s.text for s in assembler.add(said)] == ["so we waited"]
    endless = words(" ".join(["word"] * (MAX_SENTENCE_WORDS + 5)), start=10.0)
    paused, cut = assembler.add(endless)  # the pause before it ends the previous sentence
    assert paused.text == "and then it worked" and len(cut.text.split()) == MAX_SENTENCE_WORDS
    assert [paused.index, cut.index] == [1, 2]


@pytest.fixture(scope="module")
def apertium():
    translator = ApertiumTranslator()
    yield translator
    translator.close()


def test_each_sentence_becomes_a_caption_in_every_target_language(apertium):
    captions = CaptionTranslator(apertium, "en", ["es", "fr", "en"])
    assert captions.targets == ["es", "fr"]  # the spoken language needs no caption
    assembler = SentenceAssembler()
    [sentence] = assembler.add(words("The house is very big.", start=3.0, speaker=1))
    spanish, french = captions.translate(sentence)
    assert (spanish.language, french.language) == ("es", "fr")
    assert "casa" in spanish.text.lower() and "maison" in french.text.lower()
    assert spanish.source_text == "The house is very big."
    assert (spanish.start, spanish.speaker, spanish.index) == (3.0, 1, 0)


def test_the_configured_router_serves_live_pairs():
    translator = build_translator(Settings(translation_backend="auto"))
    try:
        captions = CaptionTranslator(translator, "en", ["pt", "es"])
        [sentence] = SentenceAssembler().add(words("Thank you very much."))
        portuguese, spanish = captions.translate(sentence)
        assert "obrigad" in portuguese.text.lower()
        assert "gracias" in spanish.text.lower()
    finally:
        translator.close()
