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

    def _transcribe(self, audio, prompt, *padding, **beam):
        if threading.current_thread() is self.held_thread:
            assert self.release.wait(timeout=60)
        return super()._transcribe(audio, prompt, *padding, **beam)


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


# --- a correct stream: each word final once, no interim word lost -------------------------------


def squeezed(text: str, at: float) -> list[Word]:
    """Words crammed into the last hundredths of a buffer, as Whisper's run-on repeats are."""
    return [
        Word(start=at + i * 0.005, end=at + i * 0.005, text=f" {t}")
        for i, t in enumerate(text.split())
    ]


def said(found: list[Word]) -> str:
    return "".join(w.text for w in found).strip()


def test_a_sentence_repeated_at_the_buffer_end_is_not_committed_twice():
    agreement = LocalAgreement()
    sentence = words("he was not an ill disposed young man.")  # 0 to 3.15 s
    agreement.insert(sentence)
    agreement.insert(sentence)
    assert said(agreement.committed) == "he was not an ill disposed young man."
    # Next decodes of the same buffer: new words, then the sentence again, squeezed at the end.
    agreement.insert(sentence + words("unless to", start=3.6) + squeezed("he was not an ill", 4.4))
    final, interim = agreement.insert(
        sentence + words("unless to be", start=3.6) + squeezed("he was not an ill disposed", 4.8)
    )
    assert said(final) == "unless to" and said(interim) == "be"
    agreement.flush()  # an endpoint
    assert said(agreement.committed) == "he was not an ill disposed young man. unless to be"


def test_a_repeat_in_a_trimmed_buffer_neither_repeats_nor_swallows_new_words():
    agreement = LocalAgreement()
    agreement.insert(words("he was not an ill disposed young man."))
    agreement.insert(words("he was not an ill disposed young man."))
    # The buffer now starts after the sentence; the decoder says it again after the new words:
    # the copy is not the seam (that would swallow "unless to be"), nor new words.
    agreement.insert(words("unless to be", start=3.6) + squeezed("ill disposed young man.", 4.8))
    final, _ = agreement.insert(
        words("unless to be rather", start=3.6) + squeezed("ill disposed young man.", 5.2)
    )
    assert said(final) == "unless to be"
    assert said(agreement.flush()) == "rather"


def test_a_phrase_said_again_later_is_not_taken_for_the_seam():
    agreement = LocalAgreement()
    agreement.insert(words("we made it"))
    agreement.insert(words("we made it"))  # committed, ends at 1.15 s
    # "made it" comes again three seconds later: the words before it are new, not skipped.
    hypothesis = words("we made it", 0.05) + words("and then they said we made it", 1.6)
    agreement.insert(hypothesis)
    final, _ = agreement.insert(hypothesis + words("again", 4.5))
    assert said(final) == "and then they said we made it"


def timed(*spec: tuple[str, float, float]) -> list[Word]:
    """Words as (text, start, end); a text with no space before it ("-disposed") is a piece
    of the word before it, as Whisper's word splitting gives hyphenated words."""
    return [Word(start=a, end=b, text=t if t.startswith("-") else f" {t}") for t, a, b in spec]


@pytest.mark.parametrize(
    "heard_again",
    [
        # Replayed on a real reading: the piece ends 40 ms after the final word.
        [("old", 10.2, 10.52), ("-sposed", 10.52, 10.94)],
        # At real-time pace on the same reading: two whole words over the final one.
        [("old", 10.2, 10.54), ("supposed", 10.54, 10.96)],
    ],
    ids=["as-a-hyphenated-word", "as-two-words"],
)
def test_a_final_word_heard_again_differently_is_not_said_twice(heard_again):
    # "an ill -disposed" final, then the next decodes hear the same audio as other words.
    agreement = LocalAgreement()
    first = timed(("was", 9.2, 9.5), ("not", 9.5, 10.0), ("an", 10.0, 10.2))
    final = first + timed(("ill", 10.2, 10.44), ("-disposed", 10.44, 10.9))
    agreement.insert(final)
    agreement.insert(final)
    again = first + timed(*heard_again, ("young", 10.96, 11.24), ("man.", 11.24, 11.78))
    agreement.insert(again)
    agreement.insert(again)
    assert said(agreement.committed) == "was not an ill-disposed young man."


def test_a_last_word_heard_again_differently_is_not_said_twice():
    agreement = LocalAgreement()
    first = timed(("audit", 83.7, 84.26), ("found", 84.26, 84.7), ("problems", 84.7, 85.22))
    agreement.insert(first + timed(("will", 85.22, 85.52)))
    agreement.insert(first + timed(("will", 85.22, 85.52)))
    # "will" is final; the next decodes hear it as "with", then go on.
    later = first + timed(("with", 85.18, 85.6), ("contrast", 85.6, 86.04), ("and", 86.04, 86.5))
    agreement.insert(later)
    agreement.insert(later)
    assert said(agreement.committed) == "audit found problems will contrast and"


def test_the_rest_of_a_hyphenated_word_after_its_final_start_is_new():
    agreement = LocalAgreement()
    start = timed(("rather", 13.2, 13.5), ("cold", 13.5, 13.8))
    agreement.insert(start)
    agreement.insert(start)  # "cold" final, then the decoder hears the rest of the word
    longer = start + timed(("-hearted", 13.8, 14.2), ("and", 14.2, 14.4), ("rather", 14.4, 14.7))
    agreement.insert(longer)
    agreement.insert(longer)
    assert said(agreement.committed) == "rather cold-hearted and rather"
    # And a final first half heard again as another word with the same piece after it.
    agreement = LocalAgreement()
    start = timed(("is", 16.3, 17.0), ("to", 17.0, 17.1), ("be", 17.1, 17.3), ("ill", 17.3, 17.46))
    agreement.insert(start)
    agreement.insert(start)
    again = start[:-1] + timed(("old", 17.28, 17.5), ("-sposed.", 17.5, 18.06))
    agreement.insert(again)
    agreement.insert(again)
    assert said(agreement.committed) == "is to be ill-sposed."


def test_a_repeat_at_a_speaking_pace_is_kept():
    agreement = LocalAgreement()
    agreement.insert(words("thank you very much"))
    agreement.insert(words("thank you very much"))
    again = words("thank you very much", 2.0)  # said again, at a normal pace
    agreement.insert(words("thank you very much") + again)
    agreement.insert(words("thank you very much") + again)
    assert said(agreement.committed) == "thank you very much thank you very much"


class _ScriptedVad:
    """Voice detection saying ``speech(frame_time)`` for each 32 ms frame."""

    def __init__(self, speech) -> None:
        self.speech = speech
        self.samples = 0
        self.frames = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        from reflector.vad import FRAME_SAMPLES

        self.samples += len(samples)
        first, self.frames = self.frames, self.samples // FRAME_SAMPLES
        times = np.arange(first, self.frames) * FRAME_SAMPLES / SAMPLE_RATE
        return np.array([1.0 if self.speech(t) else 0.0 for t in times], dtype=np.float32)


@dataclass
class ScriptedDecodes(StreamingTranscriber):
    """Regular decodes answer from ``script`` (stream times), one hypothesis per decode, the
    last one again once it runs out; quick looks see nothing. Records what each decode heard."""

    script: list[list[Word]] = field(default_factory=list)
    heard: list[tuple[float, float]] = field(default_factory=list)
    speech: object = None
    beams: list[int | None] = field(default_factory=list)
    elapsed: float = 0.0
    """Seconds each regular decode reports having taken."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._vad_stream = _ScriptedVad(self.speech or (lambda t: True))

    def _transcribe(self, audio, prompt, padding=3.0, beam_size=None):
        from reflector.asr.short_buffer import BufferTranscript

        if padding != 3.0:  # a quick look
            return BufferTranscript([], "en"), 0.0
        offset = self._offset
        self.heard.append((offset, offset + len(audio) / SAMPLE_RATE))
        self.beams.append(beam_size)
        hypothesis = self.script[min(len(self.heard), len(self.script)) - 1]
        inside = [w for w in hypothesis if w.start < offset + len(audio) / SAMPLE_RATE]
        shifted = [
            w.model_copy(update={"start": w.start - offset, "end": w.end - offset})
            for w in inside
            if w.start >= offset - 0.01
        ]
        return BufferTranscript(shifted, "en"), self.elapsed


def scripted(script: list[list[Word]], speech=None) -> ScriptedDecodes:
    options = LiveOptions(step=0.5, max_step=0.5)
    return ScriptedDecodes(
        engine=None, vad=None, options=options, speakers=None, topics=None,
        script=script, speech=speech,
    )  # fmt: skip


def run_through(transcriber, seconds: float) -> list:
    updates = []
    chunk = SAMPLE_RATE // 10
    for _ in range(round(seconds * 10)):
        updates += transcriber.push(np.zeros(chunk, np.float32))
    return updates + transcriber.finish()


def covered(word: Word, finals: list[Word]) -> bool:
    return any(f.start < word.end + 0.05 and word.start - 0.05 < f.end for f in finals)


def test_a_clause_a_later_decode_skips_still_becomes_final():
    # The first decodes hear a clause; a longer decode skips it (Whisper does that now and
    # then), while the voice detector hears speech there.
    # Decodes every 0.5 s; the third one leaves "charlie delta" pending, the fourth skips it.
    first = words("alpha bravo charlie delta", start=0.2)  # to 1.75 s
    skipping = words("alpha bravo", start=0.2) + words("foxtrot golf", start=2.3)
    transcriber = scripted([first, first, first, skipping])
    updates = run_through(transcriber, 3.5)
    finals = final_words_of(updates)
    assert said(finals) == "alpha bravo charlie delta foxtrot golf"
    assert_every_interim_word_is_covered(updates)


def test_a_carried_clause_does_not_agree_with_itself():
    # Recorded on the generated meeting: one decode heard "I will remember it." (a guess at a
    # turn's start), the next skipped it; kept as interim, it then "agreed" with the decode it
    # was copied from and became final. Carried over, it stays interim until a decode says
    # what was said, and that becomes final instead.
    start = words("alpha bravo", start=0.1)  # to 0.85 s
    guess = words("i will remember it", start=2.0, step=0.22)  # 2.0 to 2.83 s
    heard = words("our error rate went up", start=2.0, step=0.18)
    script = [start] * 5 + [start + guess, start, start + heard]
    transcriber = scripted(script)
    updates = run_through(transcriber, 5.0)
    assert said(final_words_of(updates)) == "alpha bravo our error rate went up"
    assert_every_interim_word_is_covered(updates)


def test_decodes_search_a_beam_until_they_fall_behind():
    transcriber = scripted([words("alpha bravo charlie")])
    run_through(transcriber, 1.0)
    assert transcriber.beams and set(transcriber.beams) == {5}
    transcriber = scripted([words("alpha bravo charlie")])
    transcriber.options = LiveOptions(step=0.5, max_step=2.0)
    transcriber.elapsed = 0.6  # each decode takes longer than the step allows
    run_through(transcriber, 3.0)
    assert transcriber.beams[0] == 5 and transcriber.beams[-1] == 1


def test_agreement_stops_before_a_word_not_settled():
    agreement = LocalAgreement()
    agreement.insert(words("one two three four"))
    carried = {" three"}
    final, interim = agreement.insert(
        words("one two three four"), settled=lambda w: w.text not in carried
    )
    assert said(final) == "one two" and said(interim) == "three four"


def final_words_of(updates: list) -> list[Word]:
    return [w for u in updates for w in u.final]


def assert_every_interim_word_is_covered(updates: list) -> None:
    finals = final_words_of(updates)
    for update in updates:
        for word in update.interim:
            assert covered(word, finals), (word, said(finals))


def test_words_made_up_in_silence_are_not_final():
    # Speech until 1.6 s, then silence where the decoder runs on with squeezed words.
    speech = words("alpha bravo charlie delta", start=0.0)
    transcriber = scripted(
        [speech + squeezed("and this is the end", 2.9)], speech=lambda t: t < 1.6
    )
    updates = run_through(transcriber, 3.0)
    assert said(final_words_of(updates)) == "alpha bravo charlie delta"


def test_an_endpoint_first_decodes_speech_no_decode_heard():
    # Regular decodes every 2 s; speech until 2.8 s, a pause: the endpoint comes before the
    # next regular decode, and the words at its end become final at the endpoint.
    script = [words("one two three four"), words("one two three four five six seven")]
    transcriber = scripted(script, speech=lambda t: t < 2.8)
    transcriber.options = LiveOptions(step=2.0, max_step=2.0)
    transcriber._step = 2.0
    updates = []
    chunk = SAMPLE_RATE // 10
    for _ in range(36):
        updates += transcriber.push(np.zeros(chunk, np.float32))
    assert said(final_words_of(updates)) == "one two three four five six seven"


def test_a_decode_far_behind_hears_one_window_and_keeps_the_rest():
    script = [words("word " * 70, start=0.2, step=0.5)]  # a word every half second, 35 s
    transcriber = scripted(script)
    transcriber.take(np.zeros(35 * SAMPLE_RATE, np.float32))  # no decode ran meanwhile
    transcriber.advance()
    start, end = transcriber.heard[0]
    assert end - start <= 30.0  # one Whisper window
    assert transcriber._offset <= end  # nothing past it was cut off unheard
    updates = run_through(transcriber, 0.5)
    assert len(final_words_of(updates)) + len(transcriber.heard) > 0
    assert max(e for _, e in transcriber.heard) >= 35.0


def test_audio_dropped_upstream_is_reported():
    transcriber = scripted([words("alpha bravo")])
    transcriber.skip(2.5)
    updates = run_through(transcriber, 1.5)
    assert updates and updates[0].skipped == 2.5
    assert sum(u.skipped for u in updates) == 2.5


@pytest.fixture(scope="module")
def chained_readings(librivox_clips) -> tuple[np.ndarray, str]:
    """The real LibriVox readings, one after another with natural pauses, twice over (the
    second round repeats sentence patterns, where decoders repeat themselves)."""
    pauses = [0.7, 1.2, 0.5, 1.5, 0.9]
    parts, texts = [np.zeros(SAMPLE_RATE, np.float32)], []
    for round_ in range(2):
        for index, clip in enumerate(librivox_clips):
            parts.append(decode_file(clip.path).samples)
            pause = pauses[(index + round_) % len(pauses)]
            parts.append(np.zeros(round(pause * SAMPLE_RATE), np.float32))
            texts.append(clip.text)
    return np.concatenate(parts), " ".join(texts)


@pytest.mark.slow
def test_real_speech_streams_each_word_once_and_close_to_offline(tiny_engine, chained_readings):
    audio, reference = chained_readings
    segments, _ = tiny_engine.model.transcribe(audio, language="en", beam_size=5)
    offline_text = " ".join(s.text for s in segments)
    offline = word_error_rate(reference, offline_text)
    options = LiveOptions(step=0.5, max_step=0.5)
    transcriber = StreamingTranscriber(tiny_engine, SileroVad(), options, speakers=None)
    updates = stream_samples(transcriber, audio, speed=0)
    finals = final_words(updates)
    text = "".join(w.text for w in finals)
    # No run of three final words committed twice. A run may come again as often as offline
    # transcription has it (the reading repeats itself: "might have been made ... might even
    # have been made"), and in the reading's second round, half a minute later, where the
    # same sentences may be misheard the same way. A decode that says a sentence again says
    # it over audio in its own buffer, so such a copy starts within a buffer's length.
    spoken = [word_key(w) for w in offline_text.replace("-", " ").split()]
    keyed = [(word_key(w.text), w.start) for w in finals if word_key(w.text)]
    starts: dict[tuple[str, ...], list[float]] = {}
    for i in range(len(keyed) - 2):
        starts.setdefault(tuple(key for key, _ in keyed[i : i + 3]), []).append(keyed[i][1])
    for run, at in starts.items():
        said = sum(tuple(spoken[j : j + 3]) == run for j in range(len(spoken) - 2))
        if len(at) > max(1, said):
            gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
            assert min(gaps) > options.max_buffer, (" ".join(run), at, text)
    live = word_error_rate(reference, text)
    # A guard against losing or repeating clauses (those took this reading to 21.8 %), not
    # the accuracy goal, which docs/benchmarks.md measures: what is left is tiny.en mishearing
    # short buffers, and that depends on the CPU's kernels ("ill-disposed" heard as
    # "old-sposed" twice on one AVX2 machine: 7.0 % against 1.4 % offline; 3.5-4.9 % on others).
    assert live <= offline + 0.07, (live, offline, text)
    # Words shown as interim end final, or final words cover their time.
    shown = [w for timed in updates for w in timed.update.interim]
    lost = [w for w in shown if not covered(w, finals)]
    assert len(lost) <= 0.02 * len(shown), (lost, text)


@pytest.mark.slow
def test_live_command_prints_json_lines(capsys, piper_clip, monkeypatch, data_dir):
    import json

    from reflector.cli.main import main
    from reflector.settings import get_settings

    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        code = main(["live", str(piper_clip.path), "--speed", "0", "--json"])
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and all(
        set(line) == {"final", "interim", "audio_time", "wall", "degraded", "skipped"}
        for line in lines
    )
    walls = [line["wall"] for line in lines]
    assert walls == sorted(walls) and lines[-1]["interim"] == []
    text = "".join(w["text"] for line in lines for w in line["final"])
    assert word_error_rate(piper_clip.text, text) <= 0.25, text
