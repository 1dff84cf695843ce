"""Audio engine: decode any container to 16 kHz mono float32, encode MP3, draw waveforms."""

from reflector.audio.decode import (
    SAMPLE_RATE,
    AudioError,
    DecodedAudio,
    decode_file,
    iter_pcm_chunks,
    probe,
)
from reflector.audio.encode import encode_mp3, write_wav
from reflector.audio.resample import resample
from reflector.audio.waveform import peak_waveform

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "DecodedAudio",
    "decode_file",
    "encode_mp3",
    "iter_pcm_chunks",
    "peak_waveform",
    "probe",
    "resample",
    "write_wav",
]
