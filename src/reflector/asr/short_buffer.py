"""Decode a short audio buffer with Whisper without padding it to 30 seconds.

faster-whisper always pads its input to Whisper's 30-second window, so the encoder costs the
same for a 1-second buffer as for a full window: about half a second of two CPU cores with
tiny.en. Live transcription re-decodes buffers of 1 to 10 seconds twice a second, so here the
encoder sees only the buffer plus a few seconds of silence (CTranslate2 accepts windows shorter
than 3000 frames): a whole decode is 7 times cheaper for a 1-second buffer, 2.5 times for 8.

Whisper was trained on padded 30-second windows, and with a short window it sometimes runs on
past the audio and repeats what it heard. Three guards keep only what is in the buffer:

* decoding runs with timestamps, and a segment that starts after the audio's end is dropped;
* words are aligned over the whole padded window, and a word that starts in the padding (where
  a repetition lands) is dropped;
* a short pattern repeated at the end ("5 5 5 5") is kept once, and text that compresses like a
  loop is dropped, as Whisper's own quality gate does.

On generated meetings, whole turns decoded this way had about the same word error rate as the
padded decode; on ten short real recordings, 5 words in 90 more were wrong (see
``docs/benchmarks.md``). Live transcription trades that for decodes cheap enough to run twice a
second; file transcription keeps full windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reflector.asr.whisper import (
    COMPRESSION_RATIO_LIMIT,
    LOGPROB_LIMIT,
    NO_SPEECH_LIMIT,
    SAMPLE_RATE,
)
from reflector.domain import Word

# Punctuation glued to the next or previous word, as faster-whisper does (with the full-width
# forms of CJK text).
PREPEND_PUNCTUATION = "\"'\u201c\u00bf([{-"
APPEND_PUNCTUATION = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001"
NO_SPEECH_SURE = 0.9
"""Above this, no text however confident: on pure silence Whisper says " you" at -0.76."""
TOKENS_PER_SECOND = 8
"""Generous bound on text and timestamp tokens per second of speech (people say 2 to 4 words)."""


@dataclass(frozen=True)
class BufferDecodeOptions:
    language: str | None = "en"
    """``None`` detects the language on this buffer (multilingual models)."""
    beam_size: int = 1
    prompt: str | None = None
    """Text said just before the buffer: context for the decoder."""
    pad_seconds: float = 3.0
    """Silence after the buffer: Whisper ends a transcript on trailing silence."""


@dataclass(frozen=True)
class BufferTranscript:
    words: list[Word]
    """Times in seconds from the start of the buffer."""
    language: str


def decode_buffer(
    model: object, samples: np.ndarray, options: BufferDecodeOptions | None = None
) -> BufferTranscript:
    """Transcribe ``samples`` (16 kHz mono float32, at most 30 seconds) with word times.

    ``model`` is a ``faster_whisper.WhisperModel``; it is shared and may be used from several
    threads at once.
    """
    from faster_whisper.tokenizer import Tokenizer

    options = options or BufferDecodeOptions()
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    content = samples.size / SAMPLE_RATE
    if content > 30.0:
        raise ValueError(f"a buffer of {content:.1f} s does not fit one Whisper window")
    pad = min(options.pad_seconds, 30.0 - content)
    padded = np.concatenate([samples, np.zeros(round(pad * SAMPLE_RATE), np.float32)])
    features = model.feature_extractor(padded, padding=0)
    frames = features.shape[-1] - features.shape[-1] % 2
    encoded = model.encode(features[:, :frames])

    multilingual = model.model.is_multilingual
    language = options.language or "en"
    if multilingual and options.language is None:
        language = model.model.detect_language(encoded)[0][0][0].strip("<|>")
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        multilingual,
        task="transcribe",
        language=language if multilingual else None,
    )
    previous = tokenizer.encode(" " + options.prompt.strip()) if options.prompt else []
    prompt = model.get_prompt(tokenizer, previous)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=options.beam_size,
        max_length=min(448, len(prompt) + int(TOKENS_PER_SECOND * content) + 6),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=_suppressed(tokenizer),
    )[0]
    tokens = _without_loop(_tokens_inside(result.sequences_ids[0], tokenizer, content))
    if not tokens or _is_silence(result):
        return BufferTranscript([], language)
    words = []
    for timing in _aligned_words(model, tokenizer, tokens, encoded, frames):
        if not timing["word"] or timing["start"] >= content - 0.05:
            continue
        words.append(
            Word(
                start=round(float(timing["start"]), 3),
                end=round(min(float(timing["end"]), content), 3),
                text=timing["word"],
                probability=min(1.0, max(0.0, float(timing["probability"]))),
            )
        )
    if _is_repetition("".join(word.text for word in words)):
        return BufferTranscript([], language)
    return BufferTranscript(words, language)


def _suppressed(tokenizer) -> list[int]:
    from faster_whisper.transcribe import get_suppressed_tokens

    return list(get_suppressed_tokens(tokenizer, [-1]))


def _tokens_inside(sequence: list[int], tokenizer, content: float) -> list[int]:
    """Text tokens of the segments that start inside the audio (timestamps removed)."""
    first_timestamp = tokenizer.timestamp_begin
    kept: list[int] = []
    opening = True  # timestamps come in pairs: a segment's start, then its end
    for token in sequence:
        if token >= first_timestamp:
            if opening and (token - first_timestamp) * 0.02 >= content - 0.1:
                break
            opening = not opening
        elif token < tokenizer.eot:
            kept.append(token)
    return kept


def _is_silence(result) -> bool:
    """Whisper's own rule (probably no speech, and the text is not confident either), or the
    model all but sure there is no speech."""
    length = len(result.sequences_ids[0])
    average_logprob = result.scores[0] * length / (length + 1)  # scores are per token
    if result.no_speech_prob > NO_SPEECH_SURE:
        return True
    return result.no_speech_prob > NO_SPEECH_LIMIT and average_logprob < LOGPROB_LIMIT


def _is_repetition(text: str) -> bool:
    """Whisper's own gate: text that compresses too well is a loop (a few words never do)."""
    from faster_whisper.transcribe import get_compression_ratio

    return len(text) > 24 and get_compression_ratio(text) > COMPRESSION_RATIO_LIMIT


def _without_loop(tokens: list[int], repeats: int = 3, longest: int = 10) -> list[int]:
    """``tokens`` with a loop at their end said once: the last tokens being one short pattern
    said ``repeats`` times or more in a row ("5 5 5 5", "-s-s-s") is Whisper running on."""
    for size in range(1, longest + 1):
        if size * repeats > len(tokens):
            break
        pattern = tokens[-size:]
        count = 1
        while tokens[-size * (count + 1) : len(tokens) - size * count] == pattern:
            count += 1
        if count >= repeats:
            return tokens[: len(tokens) - size * (count - 1)]
    return tokens


def _aligned_words(model, tokenizer, tokens: list[int], encoded, frames: int) -> list[dict]:
    from faster_whisper.transcribe import merge_punctuations

    alignment = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
    merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
    return alignment


def warm_up(model: object) -> None:
    """Decode a second of silence once: a loaded model's first decode also pays one-off set-up
    costs (about 0.1 s with tiny.en), better paid before anyone waits for words."""
    decode_buffer(model, np.zeros(SAMPLE_RATE, dtype=np.float32), BufferDecodeOptions())
