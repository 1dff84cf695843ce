"""Live transcription: LocalAgreement-2 and the streaming transcriber, fed by the harness."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from reflector.audio import SAMPLE_RATE, decode_file
from reflector.domain import Word
from reflector.live.agreement import LocalAgreement, word_key
from reflector.live.harness import final_words, first_word_delays, stream_samples
from reflector.live.streaming import LiveOptions, StreamingTranscriber
from reflector.vad import SileroVad, StreamingVad
from reflector_testkit.meetings import VOICES, VoiceBank
from reflector_testkit.scoring import word_error_rate


def words(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [
        Word(start=start + i * step, end=start + (i + 1) * step - 0.05, text=f" {t}")
        for i, t in enumerate(text.split())
    ]


# --- LocalAgreement-2 ----------------------------------------------------------------------------


def test_words_two_hypotheses_agree_on_become_final():
    agreement = LocalAgreement()
    final, interim = agreement.insert(words("good morning every"))
    assert final == [] and [w.text for w in interim] == [" good", " morning", " every"]
    final, interim = agreement.insert(words("Good morning, everyone thanks"))
    assert [w.text for w in final] == [" Good", " morning,"]  # case and commas do not matter
    assert [w.text for w in interim] == [" everyone", " thanks"]
    final, interim = agreement.insert(words("Good morning, everyone. Thanks for"))
    assert [w.text for w in final] == [" everyone.", " Thanks"]
    assert [w.text for w in interim] == [" for"]
    assert [w.text for w in agreement.flush()] == [" for"]


def test_committed_words_are_not_repeated_when_the_decoder_starts_later():
    agreement = LocalAgreement()
    agreement.insert(words("we will ship on friday"))
    agreement.insert(words("we will ship on friday"))
    assert "".join(w.text for w in agreement.committed) == " we will ship on friday"
    # A re-decode of a trimmed buffer: starts at the committed tail, times drifted by 0.3 s.
    agreement.insert(words("on friday and then", start=1.3))
    final, _ = agreement.insert(words("on friday and then rest", start=1.25))
    assert [w.text for w in final] == [" and", " then"]
    assert word_key(" Friday,") == word_key("friday")


def test_flush_commits_what_is_pending():
    agreement = LocalAgreement()
    agreement.insert(words("one two three"))
    assert [w.text for w in agreement.flush()] == [" one", " two", " three"]
    assert agreement.flush() == []
    agreement.insert(words("four fi-", start=2.0))
    assert [w.text for w in agreement.flush(everything=False)] == [" four"]  # "fi-" was cut
    assert [w.text for w in agreement.previous] == [" fi-"]


# --- streaming voice detection -------------------------------------------------------------------


def test_streaming_voice_detection_matches_the_whole_file(piper_clip):
    audio = decode_file(piper_clip.path).samples
    vad = SileroVad()
    whole = vad.probabilities(audio)
    stream = StreamingVad(vad)
    rng = np.random.default_rng(3)
    pieces, position = [], 0
    while position < len(audio):
        size = int(rng.integers(1, 7000))
        pieces.append(stream.push(audio[position : position + size]))
        position += size
    streamed = np.concatenate(pieces)
    assert len(whole) - len(streamed) <= 1  # only a last partial frame may be pending
    np.testing.assert_allclose(streamed, whole[: len(streamed)], atol=1e-5)


# --- the streaming transcriber -------------------------------------------------------------------


@pytest.fixture(scope="module")
def streamed(tiny_engine, piper_clip):
    audio = decode_file(piper_clip.path).samples
    # A fixed step (no adapting to the machine's speed), so every run decodes the same audio.
    options = LiveOptions(step=0.5, max_step=0.5)
    transcriber = StreamingTranscriber(tiny_engine, SileroVad(), options)
    updates = stream_samples(transcriber, audio, speed=0)  # as fast as it can decode
    return transcriber, updates, audio


@pytest.mark.slow
def test_final_transcript_is_accurate(streamed, piper_clip):
    transcriber, updates, _ = streamed
    text = "".join(w.text for w in final_words(updates))
    # Offline tiny.en gets this clip nearly word-perfect; streaming must stay close.
    assert word_error_rate(piper_clip.text, text) <= 0.08, text
    assert final_words(updates) == transcriber.committed


@pytest.mark.slow
def test_finals_never_change_and_times_move_forward(streamed):
    _, updates, audio = streamed
    finals = final_words(updates)
    assert finals, "nothing became final"
    for before, after in itertools.pairwise(finals):
        assert before.end <= after.start + 1e-6
    assert finals[-1].end <= len(audio) / SAMPLE_RATE + 1e-6
    audio_times = [u.update.audio_time for u in updates]
    assert audio_times == sorted(audio_times)


@pytest.mark.slow
def test_interim_words_converge_to_the_finals(streamed):
    _, updates, _ = streamed
    # The last interim shown before words became final mostly says the same words.
    shown, agreed = 0, 0
    interim: list[Word] = []
    for timed in updates:
        for word in timed.update.final:
            shown += 1
            agreed += any(word_key(w.text) == word_key(word.text) for w in interim)
        interim = timed.update.interim
    assert shown and agreed / shown >= 0.6, (agreed, shown)


@pytest.mark.slow
def test_words_appear_soon_after_speech_starts(streamed, piper_clip):
    transcriber, updates, _ = streamed
    # The clip starts with one second of silence.
    delays = first_word_delays(updates, [1.0], speed=1e9)
    assert delays, "no word was shown"
    first = next(t for t in updates if t.update.interim or t.update.final)
    # A quick look at the new utterance shows its first word within 0.6 s of its audio, well
    # before the regular decodes would have agreed on it.
    assert first.update.audio_time <= 1.6
    assert transcriber.stats.onset_looks >= 1


def test_quick_updates_come_before_a_regular_decode(tiny_engine, piper_clip):
    audio = decode_file(piper_clip.path).samples
    transcriber = StreamingTranscriber(
        tiny_engine, SileroVad(), LiveOptions(step=0.5, max_step=0.5), speakers=None, topics=None
    )
    chunk = SAMPLE_RATE // 10
    stages_seen = []
    for first in range(0, round(2.0 * SAMPLE_RATE), chunk):
        stages = list(transcriber.push_in_stages(audio[first : first + chunk]))
        stages_seen.append(stages)
        quick = stages[0]
        if any(u.interim for u in quick):
            break
    else:
        pytest.fail("no quick look showed a word in the first two seconds")
    # The look's words came in the first stage; a regular decode (if due) came after it.
    assert transcriber.stats.onset_looks >= 1
    assert all(len(stages) <= 2 for stages in stages_seen)


QUESTION = "Can we ship the new release on Friday?"


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    """``QUESTION`` in a generated voice, trimmed to the voice."""
    return VoiceBank().speak(VOICES[0], QUESTION)


@pytest.mark.slow
def test_a_reply_after_a_tenth_of_a_second_gets_a_quick_look(tiny_engine, question):
    # Two people taking turns: the reply starts 0.12 s after the question ends (trimmed voices).
    reply = VoiceBank().speak(VOICES[1], "Absolutely, all the tests are green.")
    silence = np.zeros(round(1.0 * SAMPLE_RATE), dtype=np.float32)
    gap = np.zeros(round(0.12 * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([silence, question, gap, reply, silence])
    reply_start = (len(silence) + len(question) + len(gap)) / SAMPLE_RATE
    # Regular decodes only every 2 s: a word of the reply shown soon must come from a quick look.
    options = LiveOptions(step=2.0, max_step=2.0)
    transcriber = StreamingTranscriber(tiny_engine, SileroVad(), options, speakers=None)
    chunk = SAMPLE_RATE // 10
    shown_at = None
    for first in range(0, len(audio), chunk):
        quick, *_ = transcriber.push_in_stages(audio[first : first + chunk])
        if any(w.start >= reply_start - 0.1 for u in quick for w in u.interim):
            shown_at = transcriber.received
            break
    assert shown_at is not None, "no quick look showed a word of the reply"
    assert shown_at - reply_start <= 0.7


@dataclass
class HeldDecodes(StreamingTranscriber):
    """Decodes made in ``held_thread`` wait for ``release``: a regular decode as slow as a
    test needs (on a busy machine one can take half a second)."""

    held_thread: threading.Thread | None = None
    release: threading.Event = field(default_factory=threading.Event)

    def _transcribe(self, audio, prompt, *padding):
        if threading.current_thread() is self.held_thread:
            assert self.release.wait(timeout=60)
        return super()._transcribe(audio, prompt, *padding)


@pytest.mark.slow
def test_a_quick_look_does_not_wait_for_a_regular_decode(tiny_engine, question):
    reply = VoiceBank().speak(VOICES[1], "Absolutely, all the tests are green.")
    gap = np.zeros(round(0.12 * SAMPLE_RATE), dtype=np.float32)
    options = LiveOptions(step=0.1, max_step=0.1)  # a regular decode is due after the gap
    transcriber = HeldDecodes(tiny_engine, SileroVad(), options, speakers=None)
    transcriber.push(question)  # both lanes in turn, nothing held
    assert transcriber.take(gap) == []
    reply_start = transcriber.received  # its first word may be timed up to 0.1 s earlier
    # A regular decode of everything before the reply starts in the slow lane, and stays busy.
    assert transcriber.advance_due
    slow: list = []
    transcriber.held_thread = threading.Thread(target=lambda: slow.append(transcriber.advance()))
    transcriber.held_thread.start()
    chunk = SAMPLE_RATE // 10
    shown_at = None
    for first in range(0, len(reply), chunk):
        quick = transcriber.take(reply[first : first + chunk])
        if any(w.start >= reply_start - 0.2 for u in quick for w in u.interim):
            shown_at = transcriber.received
            break
    assert shown_at is not None, "no quick look showed a word of the reply"
    assert shown_at - reply_start <= 0.7
    assert transcriber.held_thread.is_alive()  # the look did not wait for the decode
    # The decode heard none of the reply, the look did: the look's words stay shown.
    transcriber.release.set()
    transcriber.held_thread.join(timeout=60)
    (update,) = slow
    assert update is not None
    assert any(w.start >= reply_start - 0.2 for w in update.interim)


def test_a_word_left_undecided_is_final_after_max_pending():
    agreement = LocalAgreement()
    agreement.insert(words("alpha bravo charlie"))  # times 0-0.35, 0.4-0.75, 0.8-1.15
    agreement.insert(words("alfa bravo charlie"))  # the first word never agrees
    assert agreement.committed == []
    final = agreement.commit_until(0.8)
    assert [w.text for w in final] == [" alfa", " bravo"]  # the newest hypothesis wins
    assert [w.text for w in agreement.previous] == [" charlie"]


@pytest.mark.slow
def test_silence_is_not_decoded(tiny_engine):
    transcriber = StreamingTranscriber(tiny_engine, SileroVad(), LiveOptions())
    updates = stream_samples(transcriber, np.zeros(SAMPLE_RATE * 5, np.float32), speed=0)
    assert final_words(updates) == [] and transcriber.stats.decodes == 0


@pytest.mark.slow
def test_a_pause_after_final_words_is_not_decoded(tiny_engine, question):
    pause = np.zeros(SAMPLE_RATE * 4, dtype=np.float32)
    transcriber = StreamingTranscriber(tiny_engine, SileroVad(), LiveOptions(), speakers=None)
    chunk = SAMPLE_RATE // 10
    audio = np.concatenate([question, pause])
    decodes_at: dict[float, int] = {}
    for first in range(0, len(audio), chunk):
        transcriber.push(audio[first : first + chunk])
        decodes_at[round(transcriber.received, 1)] = transcriber.stats.decodes
    said = "".join(w.text for w in transcriber.committed)
    assert word_error_rate(QUESTION, said) <= 0.25, said
    # Once the pause has made every word final, the question is not decoded again and again.
    after_endpoint = round(len(question) / SAMPLE_RATE + 1.0, 1)
    assert decodes_at[round(len(audio) / SAMPLE_RATE, 1)] == decodes_at[after_endpoint]


@pytest.mark.slow
def test_live_command_prints_captions(capsys, piper_clip, monkeypatch, data_dir):
    from reflector.cli.main import main
    from reflector.settings import get_settings

    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        code = main(["live", str(piper_clip.path), "--speed", "0"])
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert word_error_rate(piper_clip.text, out) <= 0.25, out
    assert "real-time factor" in err
    code = main(["live", str(piper_clip.path.with_suffix(".missing"))])
    assert code == 1 and "reflector: error:" in capsys.readouterr().err
