"""Generated multi-speaker meetings with known speaker turns and known words.

Each speaker is a distinct synthetic voice (Piper ``joe`` and eSpeak NG voice variants that the
CAM++ speaker model tells apart about as well as it tells real people apart). A meeting mixes
long monologues, short replies, quick back-and-forth exchanges and a few overlapping turns.
Everything is deterministic for a given seed; synthesized sentences are cached per
:class:`VoiceBank` so several meetings can reuse them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from reflector.audio import SAMPLE_RATE, resample

# --- voices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: Piper's joe or an eSpeak NG voice with a variant."""

    name: str
    engine: Literal["piper", "espeak"]
    espeak_voice: str = "en-us"
    words_per_minute: int = 160
    pitch: int = 50
    length_scale: float | None = None


# Chosen so that no two voices are closer (mean CAM++ cosine) than ~0.6: some pairs are as
# close as two real people of the same sex, none is trivially far from all others.
VOICES: tuple[Voice, ...] = (
    Voice("joe", "piper"),
    Voice("klatt", "espeak", "en-us+klatt", 155, 45),
    Voice("rp-f2", "espeak", "en-gb-x-rp+f2", 165, 55),
    Voice("andy", "espeak", "en-us+Andy", 170, 40),
    Voice("steph", "espeak", "en-us+steph", 160, 60),
    Voice("michel", "espeak", "en+michel", 150, 50),
    Voice("annie", "espeak", "en+Annie", 165, 50),
)


class VoiceBank:
    """Synthesizes sentences with :data:`VOICES` at 16 kHz, caching every result."""

    def __init__(self, voices: tuple[Voice, ...] = VOICES) -> None:
        self.voices = voices
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._piper: Any = None

    def speak(self, voice: Voice, text: str) -> np.ndarray:
        key = (voice.name, text)
        if key not in self._cache:
            self._cache[key] = _trim(self._synthesize(voice, text))
        return self._cache[key]

    def _synthesize(self, voice: Voice, text: str) -> np.ndarray:
        if voice.engine == "piper":
            samples, rate = self._piper_speak(text, voice.length_scale)
        else:
            from reflector.tts import EspeakTts

            tts = EspeakTts(voice.espeak_voice, voice.words_per_minute, voice.pitch)
            audio = tts.synthesize(text)
            samples, rate = audio.samples, audio.sample_rate
        return resample(samples, rate, SAMPLE_RATE).astype(np.float32)

    def _piper_speak(self, text: str, length_scale: float | None) -> tuple[np.ndarray, int]:
        # Without Piper's sampling noise, every run generates identical meetings.
        from reflector.tts import PiperTts

        if self._piper is None:
            self._piper = PiperTts()
        audio = self._piper.synthesize(text, length_scale, varied=False)
        return audio.samples, audio.sample_rate


def _trim(samples: np.ndarray, threshold_db: float = -45.0) -> np.ndarray:
    """Cut leading and trailing silence so reference turns start and end with the voice."""
    frame = SAMPLE_RATE // 100
    n = len(samples) // frame
    if n == 0:
        return samples
    energy = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(energy / (energy.max() + 1e-12)) > threshold_db)
    if len(loud) == 0:
        return samples[:0]
    return samples[loud[0] * frame : (loud[-1] + 1) * frame]


# --- text ------------------------------------------------------------------------------------

_LONG_SENTENCES = (
    "The quarterly numbers look better than we expected, mostly because of the new contracts.",
    "I think we should move the release to next week, because testing needs two more days.",
    "Could you send me the slides after the call, so I can share them with the board?",
    "We talked about hiring two more engineers, but the budget is not approved yet.",
    "The customer asked for a demo of the reporting feature before they sign anything.",
    "Our support queue doubled last month, and most tickets are about password resets.",
    "I spoke with the design team yesterday and they want to simplify the sign up page.",
    "The migration to the new database finished on Sunday night without any data loss.",
    "We need a clear owner for the security review, otherwise it will slip again.",
    "Marketing would like the launch date fixed by the end of this week.",
    "The new office has room for twenty people, which should be enough for this year.",
    "Let me summarize what we agreed so far, so that nobody leaves with a different picture.",
    "The mobile app crashes on older phones when the network connection drops.",
    "I would rather fix the billing bug first, since it affects every invoice we send.",
    "Training for the sales team is planned for the second week of next month.",
    "Our partner in Berlin wants to extend the pilot for another three months.",
    "The dashboard loads slowly because every widget runs its own query.",
    "We should write down the decision, so the new people understand why we made it.",
    "I am worried that the deadline is too tight for a project of this size.",
    "Legal reviewed the contract and only asked for small changes in the payment terms.",
    "The survey shows that most users never open the settings page at all.",
    "Please add your holiday plans to the shared calendar before the end of the month.",
    "We could run the experiment with ten percent of the traffic and compare the results.",
    "The vendor promised a fix for the printer driver, but nothing has arrived yet.",
    "Hiring is slow because we are looking for people with very specific experience.",
    "The last release reduced the loading time by almost half on the main page.",
    "I can take the action item on documentation, but I need help with the examples.",
    "Finance asked us to report cloud costs per team starting from next quarter.",
    "The interviews went well and two candidates will come back for a second round.",
    "We still have not decided whether to build the search feature or buy a service.",
    "Our backups run every night, but nobody has tested a full restore this year.",
    "The conference talk was accepted, so we need a polished demo by early April.",
    "Customers in Japan would like the interface translated before the summer.",
    "The team retrospective showed that meetings take too much of our time.",
    "I will ask the operations team to increase the disk space on the build servers.",
    "The pricing page confuses people, because the plans look almost the same.",
    "Our error rate went up after the last deployment, so we rolled it back.",
    "I suggest we meet again on Thursday to look at the first prototype together.",
    "The accessibility audit found problems with contrast and keyboard navigation.",
    "Most of the budget goes to salaries, the rest is split between travel and tools.",
    "We promised the client a written proposal by Monday morning at the latest.",
    "The warehouse system sends duplicate orders when two people edit the same record.",
    "The onboarding guide is out of date, and new hires keep asking the same questions.",
    "We could reduce costs by turning off the test servers during the weekend.",
    "The board wants a one page summary instead of the long report we sent last time.",
    "The pilot school reported that teachers love the new grading tool.",
    "Our analytics show that people drop out at the payment step on mobile phones.",
    "Let us keep the scope small and ship something useful before the holidays.",
)

_SHORT_REPLIES = (
    "Yes, exactly.",
    "I agree with that.",
    "Right, makes sense.",
    "Sorry, can you repeat that?",
    "Good point.",
    "Not really, no.",
    "Okay, sounds good to me.",
    "That is a fair question.",
    "Sure, I can do that.",
    "Really? Since when?",
    "Hmm, I am not sure.",
    "Thanks, that helps.",
    "Absolutely.",
    "Wait, which version?",
    "Fine by me.",
    "No, the other one.",
    "Let us do it.",
    "Agreed.",
    "I doubt it.",
    "Perfect, thank you.",
)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


# --- meetings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingTurn:
    """One turn: who spoke (0-based), when (seconds, trimmed to the voice) and what."""

    speaker: int
    start: float
    end: float
    text: str
    sentences: tuple[tuple[float, float, str], ...] = ()
    """Each sentence's ``(start, end, text)``; sentences are synthesized one by one."""


@dataclass(frozen=True)
class ReferenceWord:
    """A known word with an approximate time (spread over its sentence by length)."""

    start: float
    end: float
    text: str
    speaker: int


@dataclass(frozen=True)
class Meeting:
    samples: np.ndarray
    """Mono float32 at 16 kHz."""
    turns: tuple[MeetingTurn, ...]
    voices: tuple[str, ...]
    """Voice name of each speaker number."""
    sample_rate: int = SAMPLE_RATE
    name: str = "meeting"

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def num_speakers(self) -> int:
        return len({t.speaker for t in self.turns})

    def reference_segments(self, min_pause: float = 0.3) -> list[tuple[float, float, int]]:
        """``(start, end, speaker)`` of speech: a turn split at inner pauses of ``min_pause``+.

        Pauses shorter than 0.3 s count as speech, as in NIST's rich-transcription speaker
        references; sentence pauses inside a turn are 0.25-0.6 s, so some split, some do not.
        """
        out: list[tuple[float, float, int]] = []
        for turn in self.turns:
            spans = list(turn.sentences) or [(turn.start, turn.end, turn.text)]
            begin, end = spans[0][0], spans[0][1]
            for start, stop, _ in spans[1:]:
                if start - end >= min_pause:
                    out.append((begin, end, turn.speaker))
                    begin = start
                end = stop
            out.append((begin, end, turn.speaker))
        return sorted(out)

    def rttm(self, uri: str | None = None) -> str:
        """The reference in RTTM (NIST rich transcription time marks), one line per segment."""
        uri = uri or self.name
        lines = [
            f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> speaker{speaker} <NA> <NA>"
            for start, end, speaker in self.reference_segments()
        ]
        return "\n".join(lines) + "\n"

    def write_rttm(self, path: Path, uri: str | None = None) -> Path:
        path.write_text(self.rttm(uri))
        return path

    def reference_words(self) -> list[ReferenceWord]:
        """Every spoken word with its speaker, in time order (overlapping turns interleave)."""
        words: list[ReferenceWord] = []
        for turn in self.turns:
            for start, end, text in turn.sentences:
                tokens = text.split()
                weights = np.array([len(t) + 1 for t in tokens], dtype=float)
                edges = (
                    start
                    + (end - start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
                )
                for i, token in enumerate(tokens):
                    words.append(
                        ReferenceWord(float(edges[i]), float(edges[i + 1]), token, turn.speaker)
                    )
        return sorted(words, key=lambda w: (w.start, w.end))


@dataclass(frozen=True)
class MeetingPlan:
    """What kind of meeting to generate; the defaults give a mixed, realistic one."""

    num_speakers: int = 3
    duration: float = 60.0
    """Target length in seconds (the result is close to it, a few seconds over)."""
    overlaps: int = 2
    """How many turns start while the previous speaker is still talking."""
    short_turn_share: float = 0.3
    """Share of turns that are one short reply (under ~2 s)."""
    exchange_share: float = 0.2
    """Share of turns that begin a quick back-and-forth between two people."""
    max_sentences: int = 4
    """Longest turn, in sentences."""
    seed: int = 0
    voices: tuple[str, ...] = field(default=())
    """Voice names to use (first ``num_speakers``); empty picks them by seed."""

    def __post_init__(self) -> None:
        if not 1 <= self.num_speakers <= len(VOICES):
            raise ValueError(f"num_speakers must be 1..{len(VOICES)}")
        if self.duration <= 0:
            raise ValueError("duration must be positive")


def generate_meeting(plan: MeetingPlan, bank: VoiceBank | None = None) -> Meeting:
    """Build one meeting: samples, reference turns (with sentence times) and voices used."""
    bank = bank or VoiceBank()
    rng = np.random.default_rng(plan.seed)
    by_name = {v.name: v for v in bank.voices}
    if plan.voices:
        names = list(plan.voices[: plan.num_speakers])
    else:
        # Always include joe (the most natural voice) when there is room, the rest by seed.
        others = [v.name for v in bank.voices if v.name != "joe"]
        picked = list(rng.choice(others, size=plan.num_speakers - 1, replace=False))
        names = ["joe", *picked]
        rng.shuffle(names)
    names = [str(n) for n in names]
    voices = [by_name[n] for n in names]

    long_pool = list(rng.permutation(len(_LONG_SENTENCES)))
    short_pool = list(rng.permutation(len(_SHORT_REPLIES)))

    def next_long() -> str:
        if not long_pool:
            long_pool.extend(rng.permutation(len(_LONG_SENTENCES)))
        return _LONG_SENTENCES[long_pool.pop()]

    def next_short() -> str:
        if not short_pool:
            short_pool.extend(rng.permutation(len(_SHORT_REPLIES)))
        return _SHORT_REPLIES[short_pool.pop()]

    # Who speaks next: everyone early on, then mostly whoever has spoken least so far, never
    # the same person twice in a row; turns are synthesized and placed as the script grows.
    spoken = np.zeros(plan.num_speakers)
    order = [int(i) for i in rng.permutation(plan.num_speakers)]
    pieces: list[tuple[int, np.ndarray]] = []
    turns: list[MeetingTurn] = []
    cursor = round(float(rng.uniform(0.5, 1.0)) * SAMPLE_RATE)
    target = round(plan.duration * SAMPLE_RATE)
    overlaps_left = plan.overlaps
    pending: list[tuple[int, list[str], str]] = []

    def pick_speaker(current: int) -> int:
        if order:
            return order.pop(0)
        weights = np.exp(-3.0 * spoken / max(float(spoken.mean()), 1e-6))
        if current >= 0 and plan.num_speakers > 1:
            weights[current] = 0.0
        return int(rng.choice(plan.num_speakers, p=weights / weights.sum()))

    while cursor < target:
        current = turns[-1].speaker if turns else -1
        if not pending:
            speaker = pick_speaker(current)
            roll = rng.random()
            if roll < plan.exchange_share and plan.num_speakers > 1 and turns:
                # A quick back-and-forth between the last speaker and the next one.
                partner = current if current != speaker else (speaker + 1) % plan.num_speakers
                for i in range(int(rng.integers(3, 7))):
                    lines = [next_short()] if rng.random() < 0.6 else [next_long()]
                    pending.append((speaker if i % 2 == 0 else partner, lines, "exchange"))
            elif roll < plan.exchange_share + plan.short_turn_share:
                pending.append((speaker, [next_short()], "turn"))
            else:
                count = int(rng.integers(1, plan.max_sentences + 1))
                pending.append((speaker, [next_long() for _ in range(count)], "turn"))
        speaker, lines, kind = pending.pop(0)

        parts: list[np.ndarray] = []
        sentence_spans: list[tuple[int, int, str]] = []
        offset = 0
        for k, line in enumerate(lines):
            if k:
                pause = round(float(rng.uniform(0.25, 0.6)) * SAMPLE_RATE)
                parts.append(np.zeros(pause, dtype=np.float32))
                offset += pause
            audio = bank.speak(voices[speaker], line)
            parts.append(audio)
            sentence_spans.append((offset, offset + len(audio), line))
            offset += len(audio)
        turn_audio = np.concatenate(parts) * float(10 ** (rng.uniform(-3, 3) / 20))

        previous = turns[-1] if turns else None
        remaining = max(1, round((target - cursor) / SAMPLE_RATE / 8))  # spread overlaps out
        if (
            previous is not None
            and previous.speaker != speaker
            and overlaps_left > 0
            and rng.random() < overlaps_left / remaining
        ):
            # Start before the previous speaker is done, by 0.4-1.2 s (never more than half).
            previous_len = (previous.end - previous.start) * SAMPLE_RATE
            back = min(
                float(rng.uniform(0.4, 1.2)) * SAMPLE_RATE, previous_len / 2, len(turn_audio) / 2
            )
            start = cursor - round(back)
            overlaps_left -= 1
        elif previous is not None:
            gap = rng.uniform(0.1, 0.4) if kind == "exchange" else rng.uniform(0.2, 0.8)
            start = cursor + round(float(gap) * SAMPLE_RATE)
        else:
            start = cursor
        pieces.append((start, turn_audio))
        spans = tuple(
            ((start + a) / SAMPLE_RATE, (start + b) / SAMPLE_RATE, text)
            for a, b, text in sentence_spans
        )
        end = start + len(turn_audio)
        turns.append(
            MeetingTurn(speaker, start / SAMPLE_RATE, end / SAMPLE_RATE, " ".join(lines), spans)
        )
        spoken[speaker] += len(turn_audio) / SAMPLE_RATE
        cursor = max(cursor, end)

    total = cursor + round(float(rng.uniform(0.5, 1.0)) * SAMPLE_RATE)
    samples = np.zeros(total, dtype=np.float32)
    for start, audio in pieces:
        samples[start : start + len(audio)] += audio
    # A faint noise floor, as in any real room; keeps the mix from being digitally silent.
    samples += rng.normal(0.0, 10 ** (-60 / 20), size=total).astype(np.float32)
    peak = float(np.max(np.abs(samples))) or 1.0
    samples = (samples * min(1.0, 0.9 / peak)).astype(np.float32)
    name = f"gen-{plan.num_speakers}spk-{round(plan.duration)}s-seed{plan.seed}"
    return Meeting(samples, tuple(turns), tuple(names), SAMPLE_RATE, name)


# --- meetings of real voices -----------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A real recording of one speaker, to be placed in a composed meeting."""

    speaker: int
    samples: np.ndarray
    text: str = ""


def compose_meeting(
    clips: list[Clip], seed: int = 0, name: str = "composed", voices: tuple[str, ...] = ()
) -> Meeting:
    """Join single-speaker clips into one recording with short gaps; clips are trimmed."""
    rng = np.random.default_rng(seed)
    cursor = round(0.5 * SAMPLE_RATE)
    pieces: list[tuple[int, np.ndarray]] = []
    turns: list[MeetingTurn] = []
    for clip in clips:
        audio = _trim(np.asarray(clip.samples, dtype=np.float32), threshold_db=-35.0)
        if len(audio) == 0:
            continue
        start = cursor + round(float(rng.uniform(0.2, 0.7)) * SAMPLE_RATE)
        pieces.append((start, audio))
        begin, end = start / SAMPLE_RATE, (start + len(audio)) / SAMPLE_RATE
        turns.append(MeetingTurn(clip.speaker, begin, end, clip.text, ((begin, end, clip.text),)))
        cursor = start + len(audio)
    samples = np.zeros(cursor + SAMPLE_RATE // 2, dtype=np.float32)
    for start, audio in pieces:
        samples[start : start + len(audio)] += audio
    if not voices:
        voices = tuple(f"speaker{i}" for i in sorted({c.speaker for c in clips}))
    return Meeting(samples, tuple(turns), voices, SAMPLE_RATE, name)


# Real read speech of four different people in the PocketSphinx source distribution
# (``test/data``): the LibriVox reader of Sense and Sensibility, the speaker of the
# "go forward" / numbers / TIDIGITS recordings, the "cards" speaker and the "forever" speaker.
# (Speaker identity follows the recordings' origin and was checked with CAM++: clips of one
# group are far more alike than clips of different groups.)
POCKETSPHINX_SPEAKERS: dict[str, tuple[str, ...]] = {
    "librivox-reader": (
        "librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
        "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
        "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
        "librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
        "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
    ),
    "goforward-speaker": (
        "goforward.raw",
        "numbers.raw",
        "something.raw",
        "tidigits/dhd.2934z.raw",
    ),
    "cards-speaker": tuple(f"cards/00{i}.wav" for i in range(1, 6)),
    "forever-speaker": ("forever/input_2_16k.wav", "forever/input_4_16k.wav"),
}
_POCKETSPHINX_ORDER = (3, 1, 2, 0, 1, 0, 1, 0, 1, 3, 2, 0, 2, 0, 2, 2)


def pocketsphinx_voices_meeting(data_dir: Path, seed: int = 0) -> Meeting:
    """A ~60 s conversation of four real people, composed from PocketSphinx test recordings.

    ``data_dir`` is the sdist's ``test/data`` folder (``scripts/install.sh --dev`` puts it in
    ``.cache/testdata/pocketsphinx``). Each clip is one turn; ``.raw`` files are 16 kHz 16-bit.
    """
    from reflector.audio import decode_file

    names = list(POCKETSPHINX_SPEAKERS)
    queues = {i: list(POCKETSPHINX_SPEAKERS[name]) for i, name in enumerate(names)}
    clips: list[Clip] = []
    for speaker in _POCKETSPHINX_ORDER:
        path = data_dir / queues[speaker].pop(0)
        if not path.is_file():
            raise FileNotFoundError(f"PocketSphinx test recording missing: {path}")
        if path.suffix == ".raw":
            samples = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = decode_file(path).samples
        clips.append(Clip(speaker, samples))
    return compose_meeting(clips, seed=seed, name="pocketsphinx-voices", voices=tuple(names))
