"""Speaker labels while people talk: a first guess per final word, from CAM++ voice prints.

Words arrive final in small batches. They are grouped into *phrases*: runs of words up to a
pause or a sentence end, where people nearly always hand over. The audio of a phrase, up to the
newest speech heard (interim words included, so a phrase's first final words already have
about a second of voice behind them), is embedded by CAM++ and compared with each known
speaker's running centroid: close enough (cosine) → that speaker, whose centroid moves towards
it; otherwise a new speaker, up to a cap. Inside a long phrase the voice is checked again after
every ``embed_every`` seconds of new final speech. A phrase with too little voice for a sure
embedding (a quick "Agreed.") may join a known speaker but never founds a new one or moves a
centroid; with almost no voice it goes to whoever spoke last. Labels given to final words
never change; interim words show the current guess.

The cost follows the speech, not the number of updates: one embedding (of at most
``max_window`` seconds of audio) per ``embed_every`` seconds of final speech on average, with
a few saved up for quick exchanges. It runs in the thread that decodes, never on the event
loop. The full diarization of the finished recording relabels everything with all the audio at
hand; these labels are what people see meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import structlog

from reflector.audio import SAMPLE_RATE
from reflector.domain import Word
from reflector.domain.segmentation import is_sentence_end
from reflector.vad import FRAME_SAMPLES

if TYPE_CHECKING:
    from reflector.diarization.campplus import SpeakerEmbedder

log = structlog.get_logger(__name__)

BURST = 4.0
"""Embeddings saved up at most. The average stays one per ``embed_every`` s of final speech,
but a quick exchange of short replies after a long phrase can have each reply checked (with
2 instead of 4, word accuracy on generated 2-speaker meetings fell by 2-4 points)."""

WARM_UP_RUNS = 2
"""Embeddings run when the model loads: TorchScript optimises itself during the first two."""


@dataclass(frozen=True)
class SpeakerLabelOptions:
    threshold: float = 0.5
    """Cosine similarity to a speaker's centroid at or above which a phrase is theirs.

    Measured on 1 s CAM++ windows against the centroid of the same person's other windows:
    different people reach 0.47 at the 95th percentile with generated voices (which are more
    alike than people) and 0.28 with real ones; the same person falls to 0.58 (generated) and
    0.49 (real, whose recordings vary more) at the 5th percentile. Replayed live (tiny.en
    words, the defaults here) on eleven generated meetings of 2-4 voices: at 0.45 two similar
    voices merged in one meeting (word accuracy 0.68), at 0.5 every meeting scored 0.90-0.99,
    at 0.55 extra speakers appeared in four. Four real voices (PocketSphinx recordings) scored
    0.87 at every value from 0.35 to 0.5 and a real reader stayed one speaker throughout. 0.5
    is where neither kind of voice was merged or split."""

    min_speech: float = 1.0
    """Seconds of voice an embedding needs to decide a speaker, or to start a new one."""
    short_speech: float = 0.5
    """Phrases between this and ``min_speech`` may join a known speaker, never found one;
    shorter ones take the last speaker."""
    embed_every: float = 1.5
    """Seconds of new final speech in one phrase before its voice is checked again."""
    max_window: float = 3.0
    """The most recent seconds of a phrase that are embedded."""
    pause: float = 0.3
    """A gap between words at least this long (seconds) starts a new phrase."""
    max_speakers: int = 8
    keep_audio: float = 30.0
    """Seconds of recent audio kept: words become final well within this of their audio."""

    def __post_init__(self) -> None:
        if not -1.0 < self.threshold < 1.0:
            raise ValueError("threshold is a cosine similarity: need -1 < threshold < 1")
        if not 0.0 < self.short_speech <= self.min_speech <= self.max_window:
            raise ValueError("need 0 < short_speech <= min_speech <= max_window")
        if self.embed_every <= 0 or self.pause <= 0:
            raise ValueError("embed_every and pause must be positive")
        if self.max_speakers < 1:
            raise ValueError("max_speakers must be at least 1")
        if self.keep_audio < 2 * self.max_window:
            raise ValueError("keep_audio must be at least twice max_window")


@dataclass
class SpeakerStats:
    embeddings: int = 0
    embed_seconds: float = 0.0
    """Wall time spent computing features and embeddings."""
    audio_seconds: float = 0.0
    """Seconds of voice embedded."""

    @property
    def seconds_per_embedding(self) -> float:
        return self.embed_seconds / self.embeddings if self.embeddings else 0.0


class _AudioTail:
    """The last ``keep`` seconds of a stream, addressed by stream time, with the voice
    detector's verdict per frame when it is given. Audio may be appended in one thread while
    another reads it."""

    def __init__(self, keep: float) -> None:
        self._lock = threading.Lock()
        self._keep = round(keep * SAMPLE_RATE)
        self._chunks: deque[np.ndarray] = deque()
        self._first = 0
        """Stream sample index of the first kept sample."""
        self._size = 0
        self._flags = np.zeros(0, dtype=bool)
        """Speech or not, per ``FRAME_SAMPLES`` frame of the stream from ``_flags_first``."""
        self._flags_first = 0
        self._flagged = False

    @property
    def end(self) -> float:
        with self._lock:
            return (self._first + self._size) / SAMPLE_RATE

    def append(self, samples: np.ndarray, speech: np.ndarray | None) -> None:
        with self._lock:
            self._append(samples, speech)

    def _append(self, samples: np.ndarray, speech: np.ndarray | None) -> None:
        if speech is not None:
            self._flagged = True
            self._flags = np.concatenate([self._flags, np.asarray(speech, dtype=bool)])
        if samples.size == 0:
            return
        self._chunks.append(samples)
        self._size += samples.size
        while self._chunks and self._size - self._chunks[0].size >= self._keep:
            dropped = self._chunks.popleft()
            self._first += dropped.size
            self._size -= dropped.size
        old = self._first // FRAME_SAMPLES - self._flags_first
        if old > 0:
            self._flags = self._flags[old:]
            self._flags_first += old

    def voiced(self, start: float, end: float) -> np.ndarray:
        """The samples of ``[start, end)`` in frames marked as speech (all of them when no
        marks are given; frames not judged yet count as speech)."""
        with self._lock:
            return self._voiced(start, end)

    def _voiced(self, start: float, end: float) -> np.ndarray:
        first = max(round(start * SAMPLE_RATE), self._first)
        last = min(round(end * SAMPLE_RATE), self._first + self._size)
        if last <= first:
            return np.zeros(0, dtype=np.float32)
        parts, position = [], self._first
        for chunk in self._chunks:
            lo, hi = max(first, position), min(last, position + chunk.size)
            if lo < hi:
                parts.append(chunk[lo - position : hi - position])
            position += chunk.size
            if position >= last:
                break
        samples = np.concatenate(parts)
        if not self._flagged:
            return samples
        frames = np.arange(first // FRAME_SAMPLES, (last - 1) // FRAME_SAMPLES + 1)
        index = frames - self._flags_first
        known = (index >= 0) & (index < len(self._flags))
        speech = np.ones(len(frames), dtype=bool)
        speech[known] = self._flags[index[known]]
        mask = np.repeat(speech, FRAME_SAMPLES)[first % FRAME_SAMPLES :][: samples.size]
        return samples[mask]


def one_torch_thread_here() -> None:
    """Run the calling thread's PyTorch work on one OpenMP thread; other threads keep theirs.

    A live voice print (3 s of audio) takes about 80 ms on one thread and 170 ms on two under
    the passive OpenMP wait policy: CAM++ is many small parallel steps, each of which wakes
    sleeping threads. One thread also leaves the other core to the quick looks. Only speed
    is at stake: a failure is logged, and the thread goes on with the usual count."""
    try:
        import torch
        from threadpoolctl import threadpool_limits

        torch.get_num_threads()  # PyTorch sets a thread's count on its first use: have it done
        threadpool_limits(1, user_api="openmp")
    except Exception as error:  # e.g. an OpenMP runtime threadpoolctl does not know
        log.warning("live_torch_threads_not_limited", reason=str(error))


@lru_cache(maxsize=4)
def load_speaker_embedder(weights: Path | None = None) -> Future[SpeakerEmbedder]:
    """CAM++ for live labels, loaded once per process in a thread of its own.

    Loading (and preparing the traced model) takes seconds; in the decoding thread it would
    freeze a session's captions, so streams start at once and label with the model as soon
    as it is ready. The future fails with the reason when the model cannot be loaded."""
    future: Future[SpeakerEmbedder] = Future()

    def load() -> None:
        from reflector.diarization.campplus import FEATURE_BINS, SpeakerEmbedder

        try:
            embedder = SpeakerEmbedder(weights, batch_size=1)
            # TorchScript optimises the model during its first two runs (0.2-0.4 s each on
            # 2 cores): run them now rather than in a session's decoding thread.
            for _ in range(WARM_UP_RUNS):
                embedder.embed([np.zeros((150, FEATURE_BINS), dtype=np.float32)])
            future.set_result(embedder)
        except Exception as error:  # any failure: live transcription goes on without labels
            future.set_exception(error)

    threading.Thread(target=load, name="live-speaker-model", daemon=True).start()
    return future


@dataclass
class _Speaker:
    centroid: np.ndarray
    weight: float
    """Seconds of speech the centroid averages."""


@dataclass
class _Phrase:
    start: float
    end: float
    speaker: int | None = None
    checked: bool = False
    """An embedding decided the speaker (else it is the last speaker, by default)."""
    checked_speech: float = 0.0
    """Final speech (seconds) in the phrase when its voice was last embedded."""
    tried_until: float = 0.0
    """End of the audio last embedded for this phrase."""
    speech: float = 0.0
    """Final speech so far (sum of word durations)."""
    ended: bool = False
    """Its last word ends a sentence: the next word starts a new phrase."""


@dataclass
class OnlineSpeakerLabeller:
    """Gives live words speaker numbers (0, 1, … in order of first appearance).

    Feed every piece of audio with :meth:`add_audio`, then give each update's words to
    :meth:`label`. The CAM++ model starts loading (once per process) when the labeller is
    made; words stay unlabelled until it is ready, or for good if it cannot be loaded, and
    transcription goes on either way.
    """

    options: SpeakerLabelOptions = field(default_factory=SpeakerLabelOptions)
    weights: Path | None = None
    """CAM++ weights; default: the bundled ones (see :mod:`reflector.diarization.campplus`)."""

    def __post_init__(self) -> None:
        self._audio = _AudioTail(self.options.keep_audio)
        self._speakers: list[_Speaker] = []
        self._phrase: _Phrase | None = None
        self._last: int | None = None
        self._budget = 1.0
        """Embeddings that may be computed now: one more per ``embed_every`` s of final speech."""
        self._loading = load_speaker_embedder(self.weights)
        self._embedder: SpeakerEmbedder | None = None
        self.unavailable: str | None = None
        """Why no labels are given (the speaker model could not be loaded), else ``None``."""
        self.stats = SpeakerStats()

    @property
    def num_speakers(self) -> int:
        return len(self._speakers)

    def add_audio(self, samples: np.ndarray, speech: np.ndarray | None = None) -> None:
        """The stream's next samples (16 kHz mono float32), in order, without gaps.

        ``speech``: the voice detector's verdict for the frames of ``FRAME_SAMPLES`` it
        completed with these samples (frames counted from the start of the stream). Only
        voiced frames are embedded: word times stretch into the silence around speech, and a
        voice print of silence matches nobody."""
        self._audio.append(np.asarray(samples, dtype=np.float32).reshape(-1), speech)

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until the speaker model is loaded (or failed); whether labels will be given."""
        try:
            self._loading.exception(timeout)
        except TimeoutError:
            return False
        return self._model() is not None

    def label(self, final: list[Word], interim: list[Word]) -> tuple[list[Word], list[Word]]:
        """``final`` and ``interim`` with speakers: final labels are decided for good here."""
        if self._model() is None:
            # Loading (or not to be had): no labels rather than guesses the model would not
            # have made; the first speaker it hears is speaker 0.
            return final, interim
        labelled: list[Word] = []
        # The generator moves to the next phrase only after the previous chunk was decided.
        for chunk, starts_phrase in self._phrase_chunks(final):
            newest = chunk[-1] is final[-1]
            # The newest phrase may go on in the interim words: more voice to judge it by.
            reach = self._reach(chunk[-1].end, interim) if newest else chunk[-1].end
            speaker = self._decide(starts_phrase, reach)
            labelled += [w.model_copy(update={"speaker": speaker}) for w in chunk]
        if self._last is not None:
            interim = [w.model_copy(update={"speaker": self._last}) for w in interim]
        return labelled, interim

    # --- internals ---------------------------------------------------------------------------

    def _phrase_chunks(self, words: list[Word]):
        """Runs of ``words`` that belong to one phrase; each says whether it starts one."""
        chunk: list[Word] = []
        starts = False
        for word in words:
            phrase = self._phrase
            new = phrase is None or phrase.ended or word.start - phrase.end >= self.options.pause
            if new and chunk:
                yield chunk, starts
                chunk = []
            if new:
                self._phrase = _Phrase(word.start, word.end)
            if not chunk:
                starts = new
            chunk.append(word)
            self._phrase.end = max(self._phrase.end, word.end)
            self._phrase.speech += word.duration
            self._budget = min(BURST, self._budget + word.duration / self.options.embed_every)
            self._phrase.ended = is_sentence_end(word)
        if chunk:
            yield chunk, starts

    def _reach(self, end: float, interim: list[Word]) -> float:
        """Where the phrase's voice is known to go on to: through interim words to the next
        pause or sentence end, as far as audio has arrived."""
        assert self._phrase is not None
        if not self._phrase.ended:
            for word in interim:
                if word.start - end >= self.options.pause:
                    break
                end = max(end, word.end)
                if is_sentence_end(word):
                    break
        return min(end, self._audio.end)

    def _decide(self, starts_phrase: bool, reach: float) -> int:
        phrase = self._phrase
        assert phrase is not None
        o = self.options
        if phrase.checked:
            due = phrase.speech - phrase.checked_speech >= o.embed_every
        else:  # not judged yet: again once there is noticeably more voice
            due = starts_phrase or reach - phrase.tried_until >= 0.25
        window_start = max(phrase.start, reach - o.max_window)
        seconds = reach - window_start
        if due and seconds >= o.short_speech and self._budget >= 1.0:
            phrase.tried_until = reach
            embedded = self._embed(window_start, reach)
            speaker = None if embedded is None else self._match(*embedded, phrase)
            if speaker is not None:
                phrase.speaker, phrase.checked = speaker, True
                phrase.checked_speech = phrase.speech
        if phrase.speaker is None:
            # Too little voice to tell: most likely whoever spoke last goes on.
            phrase.speaker = self._last if self._last is not None else 0
        self._last = phrase.speaker
        return phrase.speaker

    def _match(self, embedding: np.ndarray, seconds: float, phrase: _Phrase) -> int | None:
        """The speaker whose voice this is (maybe a new one); ``None`` when too short to say."""
        o = self.options
        if not self._speakers:
            if seconds < o.min_speech:
                return None
            self._speakers.append(_Speaker(embedding, seconds))
            return 0
        similarity = np.array([float(s.centroid @ embedding) for s in self._speakers])
        best = int(similarity.argmax())
        current = phrase.speaker if phrase.checked else None
        if current is not None and similarity[current] >= o.threshold:
            best = current  # the same phrase goes on: keep its speaker while it still fits
        if similarity[best] >= o.threshold:
            if seconds >= o.min_speech:
                self._absorb(best, embedding, seconds)
            return best
        if seconds < o.min_speech:
            return None
        if len(self._speakers) < o.max_speakers:
            self._speakers.append(_Speaker(embedding, seconds))
            return len(self._speakers) - 1
        return best  # no room for another person: the closest voice

    def _absorb(self, speaker: int, embedding: np.ndarray, seconds: float) -> None:
        s = self._speakers[speaker]
        mean = s.centroid * s.weight + embedding * seconds
        s.centroid = mean / max(float(np.linalg.norm(mean)), 1e-8)
        s.weight += seconds

    def _embed(self, start: float, end: float) -> tuple[np.ndarray, float] | None:
        """The voice print of the speech in ``[start, end)`` and its seconds of voice; ``None``
        when there is too little voice (or no model)."""
        samples = self._audio.voiced(start, end)
        voiced = samples.size / SAMPLE_RATE
        if voiced < self.options.short_speech:
            return None
        embedder = self._model()
        if embedder is None:
            return None
        from reflector.diarization.campplus import MIN_FRAMES, log_mel_features

        started = time.perf_counter()
        features = log_mel_features(samples)
        if len(features) < MIN_FRAMES:
            return None
        vector = embedder.embed([features])[0].astype(np.float64)
        self._budget -= 1.0
        self.stats.embeddings += 1
        self.stats.embed_seconds += time.perf_counter() - started
        self.stats.audio_seconds += voiced
        return vector, voiced

    def _model(self) -> SpeakerEmbedder | None:
        """The loaded model; ``None`` while it loads or when it cannot be loaded."""
        if self._embedder is None and self.unavailable is None and self._loading.done():
            error = self._loading.exception()
            if error is None:
                self._embedder = self._loading.result()
            else:
                self.unavailable = str(error) or type(error).__name__
                log.warning("live_speakers_unavailable", reason=self.unavailable)
        return self._embedder
