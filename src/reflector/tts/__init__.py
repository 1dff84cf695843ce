"""Speech synthesis engine: Piper (neural, English), eSpeak NG (many languages), remote
OpenAI-compatible and ElevenLabs servers behind a local fallback, and a router over them."""

from reflector.errors import EmptyTextError, RemoteUnavailableError, TextTooLongError
from reflector.tts.espeak import EspeakSynthesizer, EspeakTts, list_espeak_voices
from reflector.tts.fallback import FallbackSynthesizer
from reflector.tts.piper import PIPER_VOICE_ID, PiperSynthesizer, PiperTts, shared_piper
from reflector.tts.remote import (
    OPENAI_PCM_RATE,
    OPENAI_VOICE_NAMES,
    ElevenLabsSynthesizer,
    OpenAiSpeechSynthesizer,
)
from reflector.tts.render import (
    RenderedSpeech,
    SpeechPiece,
    SpeechRequest,
    SpeechStream,
    open_speech_stream,
    render_speech,
)
from reflector.tts.router import Route, SpeechRouter, build_synthesizer
from reflector.tts.text import split_sentences
from reflector.tts.types import (
    DEFAULT_MAX_CHARS,
    MAX_SPEED,
    MIN_SPEED,
    EmptySpeechError,
    InvalidSpeechInput,
    InvalidSpeedError,
    RemoteTtsError,
    SpeechAudio,
    SpeechServerUnavailableError,
    SpeechSynthesizer,
    SpeechTooLongError,
    TtsError,
    UnknownVoiceError,
    UnsupportedLanguageError,
    Voice,
)

__all__ = [
    "DEFAULT_MAX_CHARS",
    "MAX_SPEED",
    "MIN_SPEED",
    "OPENAI_PCM_RATE",
    "OPENAI_VOICE_NAMES",
    "PIPER_VOICE_ID",
    "ElevenLabsSynthesizer",
    "EmptySpeechError",
    "EmptyTextError",
    "EspeakSynthesizer",
    "EspeakTts",
    "FallbackSynthesizer",
    "InvalidSpeechInput",
    "InvalidSpeedError",
    "OpenAiSpeechSynthesizer",
    "PiperSynthesizer",
    "PiperTts",
    "RemoteTtsError",
    "RemoteUnavailableError",
    "RenderedSpeech",
    "Route",
    "SpeechAudio",
    "SpeechPiece",
    "SpeechRequest",
    "SpeechRouter",
    "SpeechServerUnavailableError",
    "SpeechStream",
    "SpeechSynthesizer",
    "SpeechTooLongError",
    "TextTooLongError",
    "TtsError",
    "UnknownVoiceError",
    "UnsupportedLanguageError",
    "Voice",
    "build_synthesizer",
    "list_espeak_voices",
    "open_speech_stream",
    "render_speech",
    "shared_piper",
    "split_sentences",
]
