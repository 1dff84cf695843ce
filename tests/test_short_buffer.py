"""Whisper on a short buffer without 30-second padding: same words, only what was said."""

from __future__ import annotations

import numpy as np
import pytest

from reflector.asr.short_buffer import BufferDecodeOptions, _without_loop, decode_buffer
from reflector.audio import SAMPLE_RATE, decode_file
from reflector_testkit.scoring import word_error_rate


def test_a_loop_at_the_end_is_said_once():
    assert _without_loop([7, 5, 5, 5, 5]) == [7, 5]
    assert _without_loop([1, 2, 3, 4, 3, 4, 3, 4]) == [1, 2, 3, 4]
    # Said twice is ordinary speech ("no, no"): kept.
    assert _without_loop([1, 2, 2]) == [1, 2, 2]
    assert _without_loop([7, 1, 2, 1, 2]) == [7, 1, 2, 1, 2]


@pytest.mark.slow
def test_short_buffer_hears_what_the_padded_decode_hears(tiny_engine, piper_clip):
    audio = decode_file(piper_clip.path).samples
    transcript = decode_buffer(tiny_engine.model, audio)
    text = "".join(w.text for w in transcript.words)
    assert word_error_rate(piper_clip.text, text) <= 0.08, text
    duration = len(audio) / SAMPLE_RATE
    assert all(0.0 <= w.start <= w.end <= duration for w in transcript.words)
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert transcript.language == "en"


@pytest.mark.slow
def test_a_cut_buffer_has_no_words_past_its_end(tiny_engine, piper_clip):
    audio = decode_file(piper_clip.path).samples
    cut = audio[: round(3.0 * SAMPLE_RATE)]  # stops in the middle of the first sentence
    transcript = decode_buffer(tiny_engine.model, cut, BufferDecodeOptions(prompt="Hello."))
    assert transcript.words, "nothing heard in two seconds of speech"
    assert all(w.start < 3.0 and w.end <= 3.0 for w in transcript.words)
    reference = piper_clip.text.split()
    heard = "".join(w.text for w in transcript.words).split()
    assert len(heard) <= len(reference[:12])  # no running on into words not yet said


def test_silence_and_noise_give_no_words(tiny_engine):
    assert decode_buffer(tiny_engine.model, np.zeros(2 * SAMPLE_RATE, np.float32)).words == []
    noise = np.random.default_rng(1).normal(0, 0.01, 2 * SAMPLE_RATE).astype(np.float32)
    assert decode_buffer(tiny_engine.model, noise).words == []


def test_a_buffer_longer_than_a_window_is_refused(tiny_engine):
    with pytest.raises(ValueError, match="does not fit"):
        decode_buffer(tiny_engine.model, np.zeros(31 * SAMPLE_RATE, np.float32))
