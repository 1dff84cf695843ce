"""eSpeak NG formant TTS (Debian package ``espeak-ng``): every language, many voice variants."""

from __future__ import annotations

import dataclasses
import functools
import io
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reflector.audio.tempo import change_tempo
from reflector.tts.text import split_sentences
from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    SpeechAudio,
    SpeechSynthesizer,
    TtsError,
    UnknownVoiceError,
    UnsupportedLanguageError,
    Voice,
    base_language,
)

ESPEAK_PREFIX = "espeak:"
NORMAL_WORDS_PER_MINUTE = 160
_SLOWEST_WPM, _FASTEST_WPM = 80, 900
"""eSpeak NG ignores rates below 80 words per minute; slower speech is stretched afterwards."""


def _binary() -> str:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise TtsError("espeak-ng is not installed: apt-get install espeak-ng")
    return binary


class EspeakTts:
    """Runs the ``espeak-ng`` program; ``voice`` is e.g. ``en-us``, ``en-gb+f3`` or ``es``."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 160, pitch: int = 50) -> None:
        self._binary = _binary()
        self.voice, self.words_per_minute, self.pitch = voice, words_per_minute, pitch

    def synthesize(self, text: str) -> SpeechAudio:
        command = [
            self._binary,
            "-v", self.voice,
            "-s", str(self.words_per_minute),
            "-p", str(self.pitch),
            "--stdout",
            "--", text,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, check=False, timeout=120)
        if result.returncode != 0:
            raise TtsError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
        with wave.open(io.BytesIO(result.stdout)) as handle:
            rate = handle.getframerate()
            # espeak-ng writes a streaming header whose frame count is unknown: read all bytes.
            pcm = np.frombuffer(handle.readframes(2**31 - 1), dtype="<i2")
        return SpeechAudio(pcm.astype(np.float32) / 32768.0, rate, text)


@dataclass(frozen=True)
class EspeakVoice:
    """One line of ``espeak-ng --voices``."""

    language: str
    """The voice's language tag, lower case: ``es``, ``pt-br``, ``fr-fr``."""
    name: str
    """``Spanish_(Spain)`` with underscores turned into spaces."""
    file: str
    """What ``-v`` is given: the voice file, unique even where two voices share a language."""
    priority: int
    other_languages: tuple[tuple[str, int], ...]
    """Languages this voice also serves, with eSpeak's priority (lower is preferred)."""
    key: str = ""
    """The id without ``espeak:``: the language, or the file name where two voices share one."""

    @property
    def id(self) -> str:
        return ESPEAK_PREFIX + (self.key or self.language)

    @property
    def file_key(self) -> str:
        return self.file.rsplit("/", 1)[-1].lower()


_LINE = re.compile(r"^\s*(\d+)\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)\s*(.*)$")


def parse_voice_list(listing: str) -> list[EspeakVoice]:
    """Parse the table printed by ``espeak-ng --voices``."""
    voices: list[EspeakVoice] = []
    for line in listing.splitlines()[1:]:
        match = _LINE.match(line)
        if not match:
            continue
        priority, language, name, file, others = match.groups()
        if file.startswith("mb/"):
            continue  # MBROLA voices need separately installed diphone databases
        other = tuple(
            (lang.lower(), int(prio)) for lang, prio in re.findall(r"\((\S+) (\d+)\)", others)
        )
        language = language.lower()
        voices.append(
            EspeakVoice(language, name.replace("_", " "), file, int(priority), other, language)
        )
    return voices


@functools.cache
def list_espeak_voices() -> tuple[EspeakVoice, ...]:
    """The voices the installed ``espeak-ng`` has (read once per process)."""
    result = subprocess.run(
        [_binary(), "--voices"], capture_output=True, check=False, timeout=30, text=True
    )
    if result.returncode != 0:
        raise TtsError(f"espeak-ng --voices failed: {result.stderr.strip()}")
    voices = parse_voice_list(result.stdout)
    seen: set[str] = set()
    unique = []
    for voice in voices:
        if voice.key in seen:  # two variants of one language: the second goes by its file
            voice = dataclasses.replace(voice, key=voice.file_key)
        if voice.key not in seen:
            seen.add(voice.key)
            unique.append(voice)
    return tuple(unique)


def find_voice_for_language(language: str, voices: tuple[EspeakVoice, ...]) -> EspeakVoice | None:
    """The best voice for ``language`` (``pt-BR`` exactly, else eSpeak's preferred ``pt``)."""
    tag = language.strip().lower().replace("_", "-")
    exact = [v for v in voices if v.language == tag]
    if exact:
        return min(exact, key=lambda v: v.priority)
    base = base_language(tag)
    scored: list[tuple[int, int, EspeakVoice]] = []
    for index, voice in enumerate(voices):
        if voice.language == base:
            scored.append((voice.priority, index, voice))
        for other, priority in voice.other_languages:
            if other == base:
                scored.append((priority, index, voice))
        if voice.language.startswith(base + "-"):
            scored.append((99, index, voice))
    return min(scored, key=lambda item: item[:2])[2] if scored else None


def words_per_minute(speed: float) -> int:
    return round(min(max(NORMAL_WORDS_PER_MINUTE * speed, _SLOWEST_WPM), _FASTEST_WPM))


class EspeakSynthesizer(SpeechSynthesizer):
    """:class:`~reflector.tts.types.SpeechSynthesizer` over every installed eSpeak NG voice.

    Voice ids are ``espeak:<language>`` (``espeak:es``, ``espeak:pt-br``); a bare language code
    (``es``) is accepted too. Speed maps to words per minute (160 is normal).
    """

    name = "espeak"

    def __init__(self, *, max_chars: int = DEFAULT_MAX_CHARS, pitch: int = 50) -> None:
        self.max_chars = max_chars
        self.pitch = pitch

    def voices(self) -> list[Voice]:
        return [Voice(v.id, v.name, v.language, "espeak") for v in list_espeak_voices()]

    def supports(self, language: str) -> bool:
        return find_voice_for_language(language, list_espeak_voices()) is not None

    def resolve(self, voice: str | None, language: str | None) -> EspeakVoice:
        """The eSpeak voice for an id (``espeak:es``, ``es``) or, without one, a language."""
        voices = list_espeak_voices()
        if voice is None:
            chosen = find_voice_for_language(language or "en", voices)
            if chosen is None:
                raise UnsupportedLanguageError(f"no eSpeak NG voice speaks {language!r}")
            return chosen
        key = voice.strip().lower().removeprefix(ESPEAK_PREFIX)
        for candidate in voices:
            if key in (candidate.key, candidate.file_key):
                chosen = candidate
                break
        else:
            # A language code (``fr``, ``zh``) picks eSpeak's preferred voice for it.
            chosen = find_voice_for_language(key, voices) if re.fullmatch(r"[a-z-]+", key) else None
            if chosen is None:
                raise UnknownVoiceError(
                    f"unknown eSpeak NG voice {voice!r}; voices look like 'espeak:es', "
                    "'espeak:pt-br' (see the voice list)"
                )
        if language is not None and base_language(language) != base_language(chosen.language):
            speaks = {base_language(chosen.language)} | {o for o, _ in chosen.other_languages}
            if base_language(language) not in speaks:
                raise UnsupportedLanguageError(
                    f"voice {voice!r} speaks {chosen.language!r}, not {language!r}"
                )
        return chosen

    def _render(self, sentence: str, chosen: EspeakVoice, speed: float) -> SpeechAudio:
        audio = EspeakTts(chosen.file, words_per_minute(speed), self.pitch).synthesize(sentence)
        reached = words_per_minute(speed) / NORMAL_WORDS_PER_MINUTE
        if abs(reached - speed) > 0.01:  # below eSpeak's slowest rate
            stretched = change_tempo(audio.samples, audio.sample_rate, speed / reached)
            audio = SpeechAudio(stretched, audio.sample_rate, sentence)
        return audio

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        chosen = self.resolve(voice, language)
        return (self._render(s, chosen, speed) for s in split_sentences(text))

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        return self._render(text, self.resolve(voice, language), speed)
