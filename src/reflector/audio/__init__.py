"""Audio engine: decode any container to 16 kHz mono float32, encode MP3/Opus/AAC/FLAC/WAV/PCM,
level loudness, change tempo, draw waveforms."""

from reflector.audio.decode import (
    SAMPLE_RATE,
    AudioError,
    AudioTooLongError,
    DecodedAudio,
    decode_file,
    iter_pcm_chunks,
    probe,
)
from reflector.audio.encode import encode_mp3, write_wav
from reflector.audio.formats import (
    AUDIO_FORMATS,
    AudioFormat,
    AudioFormatError,
    StreamingEncoder,
    decode_audio_bytes,
    encode_audio,
    iter_encoded,
    media_type,
    write_audio_file,
)
from reflector.audio.loudness import (
    Compressor,
    LoudnessOptions,
    LoudnessProcessor,
    apply_loudness,
    compress,
    normalize_loudness,
    speech_rms_dbfs,
)
from reflector.audio.resample import resample
from reflector.audio.tempo import change_tempo
from reflector.audio.waveform import peak_waveform

__all__ = [
    "AUDIO_FORMATS",
    "SAMPLE_RATE",
    "AudioError",
    "AudioFormat",
    "AudioFormatError",
    "AudioTooLongError",
    "Compressor",
    "DecodedAudio",
    "LoudnessOptions",
    "LoudnessProcessor",
    "StreamingEncoder",
    "apply_loudness",
    "change_tempo",
    "compress",
    "decode_audio_bytes",
    "decode_file",
    "encode_audio",
    "encode_mp3",
    "iter_encoded",
    "iter_pcm_chunks",
    "media_type",
    "normalize_loudness",
    "peak_waveform",
    "probe",
    "resample",
    "speech_rms_dbfs",
    "write_audio_file",
    "write_wav",
]
