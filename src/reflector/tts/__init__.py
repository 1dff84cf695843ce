"""Speech synthesis engine: Piper (neural, English) and eSpeak NG (many languages)."""

from reflector.tts.espeak import EspeakTts
from reflector.tts.piper import PiperTts
from reflector.tts.types import SpeechAudio, TtsError

__all__ = ["EspeakTts", "PiperTts", "SpeechAudio", "TtsError"]
