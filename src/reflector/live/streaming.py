"""Live transcription of one audio stream: interim words quickly, final words that never change.

Audio arrives in pieces of any size. Every ``step`` seconds of new audio the recent, uncommitted
part of the stream (the *buffer*) is decoded again by Whisper in a window as short as the buffer
(:mod:`reflector.asr.short_buffer`), prompted with the committed text, and LocalAgreement-2
commits the words two consecutive decodes agree on. A word that has had ``max_pending`` seconds
of audio after it is committed from the newest decode even without agreement, which bounds how
long a word stays interim. Voice detection runs on every frame: silence is not decoded, a pause
after speech (*endpoint*) makes the pending words final at once, and speech after a pause
(*onset*) gets quick looks at just the new utterance every ``onset_step`` seconds until it shows
a word, so the first words do not wait for the next regular decode. The buffer is cut after
committed sentence ends, so a decode never covers more than ``max_buffer`` seconds.

If decoding falls behind real time, the step grows (fewer, longer decodes) and the update says
so, instead of lagging further and further behind.

The words form a correct stream: a word is final once (LocalAgreement drops a decoder's repeat
of words already final); a word shown as interim either becomes final or is replaced by final
words covering its time (a decode that skips a clause an earlier decode heard, where the voice
detector hears speech, keeps that clause; an endpoint first decodes speech no decode has heard);
audio is cut only once a decode has heard it, and audio dropped before it reached the
transcriber (a source that fell too far behind) is reported in ``LiveUpdate.skipped``.

The work comes in two lanes that may run in two threads at once: ``take`` (audio in, voice
detection, quick looks) and ``advance`` (an endpoint or a regular decode, then a live speaker
label for each final word, :mod:`reflector.live.speakers`, and the live topics they close,
:mod:`reflector.live.topics`). A quick look then never waits for a regular decode or a voice
print, which take longer than the look itself. ``push`` runs the two one after the other.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from reflector.asr import WhisperEngine
from reflector.asr.short_buffer import BufferDecodeOptions, BufferTranscript, decode_buffer
from reflector.audio import SAMPLE_RATE
from reflector.domain import Word
from reflector.domain.segmentation import is_sentence_end
from reflector.live.agreement import LocalAgreement, word_key
from reflector.live.speakers import OnlineSpeakerLabeller
from reflector.live.topics import LiveTopic, LiveTopicTracker
from reflector.vad import FRAME_SAMPLES, SileroVad, StreamingVad

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_WINDOW_SAMPLES = 30 * SAMPLE_RATE
"""Whisper hears at most 30 seconds at once."""
_SKIP_GAP = 0.4
"""Seconds without words in a decode where a pending word it skipped is kept."""
_SQUEEZED_WORD = 0.05
"""Seconds: a word aligned to less than this has no audio of its own."""


@dataclass(frozen=True)
class LiveOptions:
    language: str | None = "en"
    step: float = 0.5
    """Seconds of new audio between decodes (grows under load, up to ``max_step``)."""
    max_step: float = 2.0
    max_buffer: float = 10.0
    """Seconds of audio at most in one decode; older audio is cut at committed words."""
    trim_after: float = 4.0
    """Cut the buffer at a committed sentence end once it is longer than this."""
    max_pending: float = 1.5
    """Seconds of audio after a word by which it is final even without two decodes agreeing."""
    endpoint_silence: float = 0.5
    """Silence after speech that makes the pending words final."""
    onset_pause: float = 0.09
    """Silence before speech that makes it the start of an utterance (three voice frames:
    speakers taking turns often leave no more than a tenth of a second)."""
    onset_speech: float = 0.1
    """Seconds of an utterance's speech before its first quick look. Voice detection marks
    speech about 60 ms after it starts and a look hears 0.1 s before that, so the first look
    hears about a quarter of a second of the utterance (after 0.2 s instead, first words came
    0.1 s later at the median on generated meetings)."""
    onset_step: float = 0.1
    """Seconds between quick looks at a starting utterance until it shows a word."""
    onset_window: float = 1.5
    """Quick looks stop this long after the onset; the regular decodes have it by then."""
    onset_padding: float = 6.0
    """Seconds of silence after a quick look's audio. With more silence after it, Whisper
    names a starting word sooner: on 56 turns of generated meetings, from 0.2 s of it in 54
    turns (45 with the 3 s that regular decodes get), for 20 ms more per look."""
    speech_threshold: float = 0.5
    beam_size: int = 5
    """Beam of the regular decodes while decoding keeps up (greedy once the step has grown).
    With tiny.en on short windows the encoder costs most of a decode, so a beam of 5 costs
    about 5 % more CPU than greedy decoding, and it mishears less ("I would rather fix the
    billing" where greedy heard "I will block the fixed no billing")."""
    look_beam_size: int = 1
    """Beam of the quick looks, which only show interim words and must be quick."""
    prompt_chars: int = 200

    def __post_init__(self) -> None:
        if not 0.1 <= self.step <= self.max_step:
            raise ValueError("need 0.1 <= step <= max_step")
        if not 2.0 <= self.trim_after < self.max_buffer <= 30.0:
            raise ValueError("need 2 <= trim_after < max_buffer <= 30")


@dataclass(frozen=True)
class LiveUpdate:
    """What changed after a piece of audio: words that became final, and the current interim."""

    final: list[Word]
    interim: list[Word]
    """Replaces the previous interim words."""
    audio_time: float
    """Seconds of audio received when this was produced."""
    degraded: bool = False
    """Decoding is slower than real time; the step was made longer."""
    step: float = 0.5
    topics: tuple[LiveTopic, ...] = ()
    """Live topics these final words closed."""
    skipped: float = 0.0
    """Seconds of audio dropped before they reached the transcriber since the previous update
    (a source too far behind); stream times after it do not count them."""


@dataclass
class LiveStats:
    decodes: int = 0
    onset_looks: int = 0
    """Quick decodes of just a new utterance, to show its first words sooner."""
    decode_seconds: float = 0.0
    audio_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else 0.0


@dataclass
class StreamingTranscriber:
    engine: WhisperEngine
    vad: SileroVad
    options: LiveOptions = field(default_factory=LiveOptions)
    speakers: OnlineSpeakerLabeller | None = field(default_factory=OnlineSpeakerLabeller)
    """Labels final words with speakers; ``None``: no live speaker labels."""
    topics: LiveTopicTracker | None = field(default_factory=LiveTopicTracker)
    """Closes live topics as final words come; ``None``: no live topics."""

    def __post_init__(self) -> None:
        self._audio = np.zeros(0, dtype=np.float32)
        self._offset = 0.0
        """Stream time of ``_audio[0]``: audio before it was cut off."""
        self._speech = np.zeros(0, dtype=bool)
        """Speech flag per 32 ms frame, from frame ``_speech_first`` of the stream: only the
        buffer's frames are kept, so a long stream costs no more per push than a short one."""
        self._speech_first = 0
        self._vad_stream = StreamingVad(self.vad)
        self._agreement = LocalAgreement()
        self._since_decode = 0.0
        self._step = self.options.step
        self._interim: list[Word] = []
        self._quiet_frames = 0
        """Non-speech frames since the last speech frame (counting from the stream start)."""
        self._onset: float | None = None
        """Stream time where an utterance began that no update has shown a word of yet."""
        self._last_look = 0.0
        self._decoded_until = 0.0
        """Stream time up to which the last regular decode heard the audio."""
        self._look_words: list[Word] = []
        """The newest quick look's words (stream time), shown until a regular decode hears them."""
        self._look_until = 0.0
        """Stream time up to which the newest quick look heard the audio."""
        self._advancing = False
        """:meth:`advance` is running (maybe in another thread)."""
        self._lock = threading.RLock()
        """Guards the state shared by the two lanes; never held while decoding."""
        self._skipped = 0.0
        """Seconds dropped upstream (:meth:`skip`) that no update has reported yet."""
        self.stats = LiveStats()

    @property
    def received(self) -> float:
        return self._offset + len(self._audio) / SAMPLE_RATE

    @property
    def committed(self) -> list[Word]:
        return list(self._agreement.committed)

    def skip(self, seconds: float) -> None:
        """Audio of ``seconds`` was lost before it reached the transcriber (its source fell too
        far behind): the next update says so, rather than the words missing silently."""
        with self._lock:
            self._skipped += seconds

    def push(self, samples: np.ndarray) -> list[LiveUpdate]:
        """Add audio (16 kHz mono float32); returns the updates it caused (often none)."""
        return [update for stage in self.push_in_stages(samples) for update in stage]

    def push_in_stages(self, samples: np.ndarray) -> Iterator[list[LiveUpdate]]:
        """Like :meth:`push`, but yields the quick updates (the first words of an utterance)
        before an endpoint or a regular decode runs, so that they can be sent at once.

        A long piece (a client catching up, or merged backlog) is taken in parts of
        ``trim_after`` seconds: one decode each, which covers every part before the buffer
        moves past it, at a fraction of the decodes that real-time pieces would cost.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        size = max(FRAME_SAMPLES, round(self.options.trim_after * SAMPLE_RATE))
        for position in range(0, samples.size, size):
            yield self.take(samples[position : position + size])
            if self.advance_due:
                update = self.advance()
                if update is not None:
                    yield [update]

    def take(self, samples: np.ndarray) -> list[LiveUpdate]:
        """The quick lane: add audio (16 kHz mono float32) and look at a starting utterance
        when one is due. Safe to call while :meth:`advance` runs in another thread."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            self._audio = np.concatenate([self._audio, samples])
            speech = self._vad_stream.push(samples) >= self.options.speech_threshold
            self._speech = np.concatenate([self._speech, speech])
            self._find_onset(speech)
            if self.speakers is not None:
                self.speakers.add_audio(samples, speech)
            self._since_decode += len(samples) / SAMPLE_RATE
            self.stats.audio_seconds += len(samples) / SAMPLE_RATE
            if not self._look_due():
                return []
            # What the look hears, taken now: the other lane may cut the buffer meanwhile.
            self._last_look = self.received
            start = max(self._offset, self._onset - 0.1)
            audio = self._audio[round((start - self._offset) * SAMPLE_RATE) :]
            prompt = self._prompt(before=start)
        update = self._look_at_onset(audio, start, prompt)
        return [] if update is None else [update]

    @property
    def advance_due(self) -> bool:
        """Whether :meth:`advance` has work: an endpoint, or a regular decode due (and it is
        not running already)."""
        with self._lock:
            return not self._advancing and (
                self._endpoint_reached() or self._since_decode >= self._step
            )

    def advance(self) -> LiveUpdate | None:
        """The slow lane: make the pending words final at an endpoint, else run a regular
        decode when one is due; speaker labels and topics for the words made final. One call
        at a time, beside any number of :meth:`take` calls."""
        with self._lock:
            if self._advancing:
                raise RuntimeError("advance() is already running")
            self._advancing = True
            endpoint = self._endpoint_reached()
            due = self._since_decode >= self._step
        try:
            if endpoint:
                update = self._finalize()
            elif due:
                update = self._decode()
            else:
                return None
            if update is not None:
                with self._lock:
                    self._onset_seen([update])
            return update
        finally:
            with self._lock:
                self._advancing = False

    def _onset_seen(self, updates: list[LiveUpdate]) -> None:
        """The quick looks end once the utterance shows a word, or after ``onset_window``."""
        if self._onset is not None and (
            self.received - self._onset > self.options.onset_window
            or any(w.end >= self._onset for u in updates for w in u.interim + u.final)
        ):
            self._onset = None

    def finish(self) -> list[LiveUpdate]:
        """The stream ended: decode what is left and make everything final."""
        updates = []
        if self._has_speech(self._offset):
            update = self._decode()
            if update is not None:
                updates.append(update)
        updates.append(self._finalize())
        if self.topics is not None:
            last = updates[-1]
            updates[-1] = replace(last, topics=last.topics + tuple(self.topics.finish()))
        return updates

    # --- internals ---------------------------------------------------------------------------

    def _find_onset(self, speech: np.ndarray) -> None:
        """Note where speech starts after a pause, for the quick looks at a new utterance."""
        first_new = self._speech_first + len(self._speech) - len(speech)
        pause_frames = round(self.options.onset_pause / FRAME_SECONDS)
        for index, voiced in enumerate(speech):
            if not voiced:
                self._quiet_frames += 1
                continue
            if self._quiet_frames >= pause_frames and self._onset is None:
                self._onset = (first_new + index) * FRAME_SECONDS
                self._last_look = self._onset
            self._quiet_frames = 0

    def _look_due(self) -> bool:
        o = self.options
        return (
            self._onset is not None
            and self.received - self._onset >= o.onset_speech
            and self.received - self._last_look >= o.onset_step
        )

    def _look_at_onset(
        self, audio: np.ndarray, start: float, prompt: str | None
    ) -> LiveUpdate | None:
        """Decode only the new utterance (``audio`` from stream time ``start``; a short window
        is cheap) to show its first words well before the next regular decode. Nothing is
        committed from it: the words are interim, after the interim words from before it.
        ``None`` when a regular decode of newer audio finished meanwhile."""
        o = self.options
        transcript, elapsed = self._transcribe(audio, prompt, o.onset_padding, o.look_beam_size)
        with self._lock:
            self.stats.onset_looks += 1
            self.stats.decode_seconds += elapsed
            heard_until = start + len(audio) / SAMPLE_RATE
            if self._decoded_until >= heard_until:
                return None
            self._look_words = [_shifted(word, start, heard_until) for word in transcript.words]
            self._look_until = heard_until
            before = [w for w in self._interim if w.end <= start + 0.05]
            update = self._update([], before + self._look_words, round(self.received, 3))
            self._onset_seen([update])
            return update

    def _frame_index(self, stream_time: float) -> int:
        return int(stream_time / FRAME_SECONDS)

    def _has_speech(self, since: float) -> bool:
        first = max(0, self._frame_index(since) - self._speech_first)
        return bool(self._speech[first:].any())

    def _silence_at_end(self) -> float:
        """Seconds of non-speech at the end of what the voice detector has seen."""
        trailing = np.flatnonzero(self._speech[::-1])
        frames = len(self._speech) if trailing.size == 0 else int(trailing[0])
        return frames * FRAME_SECONDS

    def _endpoint_reached(self) -> bool:
        return bool(self._interim) and self._silence_at_end() >= self.options.endpoint_silence

    def _finalize(self) -> LiveUpdate:
        """Make the pending words final. Speech that no regular decode has heard yet (the end
        of the utterance, maybe shown by a quick look) is decoded first, so no word shown is
        taken back without final words for its time."""
        with self._lock:
            unheard = self._has_speech(max(self._offset, self._decoded_until) + FRAME_SECONDS)
        decoded = self._decode() if unheard else None
        with self._lock:
            final = self._agreement.flush()
            self._interim = []
            final += self._trim()
            received = round(self.received, 3)
        update = self._update(final, [], received)
        if decoded is None:
            return update
        return replace(
            update,
            final=decoded.final + update.final,
            degraded=decoded.degraded,
            topics=decoded.topics + update.topics,
            skipped=decoded.skipped + update.skipped,
        )

    def _update(
        self, final: list[Word], interim: list[Word], audio_time: float, degraded: bool = False
    ) -> LiveUpdate:
        """The update for newly final and interim words: speakers on them, topics closed.

        Final words come only from :meth:`advance` and :meth:`finish`, so a voice print (the
        slow part) is never computed in the quick lane, nor while the lock is held."""
        topics: tuple[LiveTopic, ...] = ()
        if self.speakers is not None:
            final, interim = self.speakers.label(final, interim)
            if final:  # the committed words are the same words, labelled alike
                with self._lock:
                    committed = self._agreement.committed
                    committed[len(committed) - len(final) :] = final
        if self.topics is not None and final:
            topics = tuple(self.topics.add(final))
        with self._lock:
            skipped, self._skipped = self._skipped, 0.0
        return LiveUpdate(final, interim, audio_time, degraded, self._step, topics, skipped)

    def _prompt(self, before: float) -> str | None:
        """Text heard before ``before`` (stream time): context for the decoder. Words inside
        the decoded audio are left out, or Whisper tends to skip them in the audio."""
        parts: list[str] = []
        size = 0
        # Newest first: only the tail is read (the committed words grow with the stream).
        for word in itertools.chain(reversed(self._interim), reversed(self._agreement.committed)):
            if word.end > before + 0.01:
                continue
            parts.append(word.text)
            size += len(word.text)
            if size >= self.options.prompt_chars:
                break
        text = "".join(reversed(parts)).strip()
        return text[-self.options.prompt_chars :] or None

    def _transcribe(
        self,
        audio: np.ndarray,
        prompt: str | None,
        padding: float = BufferDecodeOptions.pad_seconds,
        beam_size: int | None = None,
    ) -> tuple[BufferTranscript, float]:
        """Whisper on ``audio`` in a short window with ``padding`` seconds of silence after it,
        prompted with ``prompt``, with a beam of ``beam_size`` (default: the regular decodes');
        also the seconds it took. Runs without the lock: the other lane goes on meanwhile."""
        started = time.perf_counter()
        options = BufferDecodeOptions(
            language=self.options.language,
            beam_size=beam_size or self.options.beam_size,
            prompt=prompt,
            pad_seconds=padding,
        )
        transcript = decode_buffer(self.engine.model, audio, options)
        return transcript, time.perf_counter() - started

    def _decode(self) -> LiveUpdate | None:
        with self._lock:
            self._since_decode = 0.0
            # With every word final, the same audio decoded again gives nothing new: only
            # speech that came after the last decode is worth a decode.
            since = self._offset if self._interim else max(self._offset, self._decoded_until)
            if not self._has_speech(since):
                self._drop_silence()
                return None
            # At most one Whisper window (a decode far behind); the rest comes next time.
            audio = self._audio[:_WINDOW_SAMPLES]
            offset = self._offset
            heard_until = offset + len(audio) / SAMPLE_RATE
            prompt = self._prompt(before=offset)
            # The beam while decoding keeps up; greedy once the step had to grow, so that a
            # busy machine gets its words on time rather than a little more accurately.
            beam = self.options.beam_size if self._step <= self.options.step else 1
        transcript, elapsed = self._transcribe(audio, prompt, beam_size=beam)
        with self._lock:
            self._decoded_until = max(self._decoded_until, heard_until)
            words = [_shifted(word, offset, heard_until) for word in transcript.words]
            self.stats.decodes += 1
            self.stats.decode_seconds += elapsed
            degraded = self._adapt_step(elapsed)
            words, carried = self._with_skipped_clauses(
                self._voiced(_monotonic(words)), heard_until
            )
            final, _ = self._agreement.insert(
                words, settled=lambda word: (word.text, word.end) not in carried
            )
            final += self._agreement.commit_until(heard_until - self.options.max_pending)
            self._interim = list(self._agreement.previous)
            final += self._trim()
            # A quick look that heard further than this decode: its words after this decode's
            # stay shown (else they would vanish until the next decode).
            heard = self._interim or final or self._agreement.committed[-1:]
            last_end = heard[-1].end if heard else 0.0
            newer = []
            if self._look_until > heard_until:
                newer = [w for w in self._look_words if w.start >= last_end - 0.05]
            received = round(self.received, 3)
        return self._update(final, self._interim + newer, received, degraded)

    def _with_skipped_clauses(
        self, words: list[Word], heard_until: float
    ) -> tuple[list[Word], set[tuple[str, float]]]:
        """``words`` of a decode, with the pending words of the previous decode that it left
        out although it heard their audio, where the voice detector hears speech; also the
        (text, end) of the words carried over, which this decode did not say itself: they
        stay pending (final at an endpoint or after ``max_pending``), never "agreed".

        Given a longer buffer, Whisper now and then skips a clause that a shorter one heard;
        the clause, shown as interim, would then vanish, never final and never replaced. A
        pending word comes back only into a gap of at least ``_SKIP_GAP`` seconds without
        words of this decode, so a word merely timed a little differently is not said twice.
        """
        pending = self._agreement.previous
        if not pending:
            return words, set()
        start_of_new = self._agreement.committed_end
        edges = [start_of_new, *(e for w in words for e in (w.start, w.end)), heard_until]
        gaps = [
            (edges[i], edges[i + 1])
            for i in range(0, len(edges) - 1, 2)
            if edges[i + 1] - edges[i] >= _SKIP_GAP
        ]
        kept = [
            word
            for word in pending
            if word.end <= heard_until
            and any(a - 0.1 <= word.start and word.end <= b + 0.1 for a, b in gaps)
            and self._speech_between(word.start, word.end)
        ]
        if not kept:
            return words, set()
        order = sorted(words + kept, key=lambda w: w.start)  # stable: as _monotonic keeps it
        merged = _monotonic(order)
        carried = {id(w) for w in kept}
        pairs = zip(merged, order, strict=True)
        return merged, {(m.text, m.end) for m, w in pairs if id(w) in carried}

    def _voiced(self, words: list[Word]) -> list[Word]:
        """``words`` without those Whisper made up in silence: on the silence after speech it
        may run on ("And this is the end of the video", "man. man."), and the aligner crams
        such words into the last hundredth of a second, or repeats the word before, where the
        voice detector hears nobody."""
        kept: list[Word] = []
        for word in words:
            made_up = word.end - word.start < _SQUEEZED_WORD or (
                bool(kept) and word_key(kept[-1].text) == word_key(word.text)
            )
            if made_up and not self._speech_between(word.start - 0.1, word.end + 0.1):
                continue
            kept.append(word)
        return kept

    def _speech_between(self, start: float, end: float) -> bool:
        first = max(0, self._frame_index(start) - self._speech_first)
        last = max(first + 1, self._frame_index(end) + 1 - self._speech_first)
        return bool(self._speech[first:last].any())

    def _adapt_step(self, elapsed: float) -> bool:
        """Longer steps while a decode takes most of a step; back down when there is room."""
        if elapsed > 0.8 * self._step and self._step < self.options.max_step:
            self._step = min(self.options.max_step, self._step * 1.5)
            return True
        if elapsed < 0.4 * self._step and self._step > self.options.step:
            self._step = max(self.options.step, self._step / 1.5)
        return self._step > self.options.step

    def _cut(self, stream_time: float) -> None:
        drop = round((stream_time - self._offset) * SAMPLE_RATE)
        if drop <= 0:
            return
        self._audio = self._audio[drop:]
        self._offset += drop / SAMPLE_RATE
        frames = self._frame_index(self._offset) - self._speech_first
        if frames > 0:
            self._speech = self._speech[frames:]
            self._speech_first += frames

    def _trim(self) -> list[Word]:
        """Cut audio that only holds committed words, at a sentence end when possible.

        Returns the words this made final (when no agreement came for a whole buffer)."""
        length = self.received - self._offset
        committed = self._agreement.committed
        if not committed or length <= self.options.trim_after:
            return []
        sentence_end = None
        for word in reversed(committed):  # only words still in the buffer
            if word.end <= self._offset:
                break
            if is_sentence_end(word):
                sentence_end = word.end
                break
        if sentence_end is not None:
            self._cut(sentence_end)
        elif length > self.options.max_buffer:
            self._cut(committed[-1].end)
        if self.received - self._offset > self.options.max_buffer:
            # No agreement for a whole buffer: commit what the last decode heard rather than
            # let the decode grow without bound, and cut after it.
            flushed = self._agreement.flush(everything=False)
            self._interim = []
            last = self._agreement.committed_end
            # Audio no decode has heard yet stays, to be decoded next.
            heard = min(self.received - self.options.trim_after, self._decoded_until)
            self._cut(last if last > self._offset else heard)
            return flushed
        return []

    def _drop_silence(self) -> None:
        """Nothing new was said since the last decode and no word is pending: decoding again
        would only cost time, often just as the next speaker starts, whose first words would
        wait for it. What is no longer needed is cut off."""
        if self._interim:
            return
        if self._has_speech(self._offset):
            # Speech the decoder made no words of (a cough, a word cut off): kept a while,
            # since with what follows it may yet be heard as words.
            keep = self.options.trim_after
            self._cut(max(self._offset, self._agreement.committed_end, self.received - keep))
        else:
            self._cut(max(self._offset, self.received - 1.0))  # a second of lead-in


def _shifted(word: Word, start: float, received: float) -> Word:
    """A word timed from ``start`` (stream time) in stream time, ending by ``received``."""
    return word.model_copy(
        update={
            "start": round(start + word.start, 3),
            "end": round(min(start + word.end, received), 3),
        }
    )


def _monotonic(words: list[Word]) -> list[Word]:
    result: list[Word] = []
    for word in words:
        start = max(word.start, result[-1].end if result else 0.0)
        result.append(word.model_copy(update={"start": start, "end": max(start, word.end)}))
    return result
