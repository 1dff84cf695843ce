"""Names of the channels events travel on, so publishers and subscribers agree."""

from __future__ import annotations


def transcript_channel(transcript_id: str) -> str:
    """Events about one transcript: status, words, topics, summaries, captions, ..."""
    return f"transcript:{transcript_id}"


def user_channel(user_id: str) -> str:
    """Events for one user across transcripts: a transcript was created, finished, deleted."""
    return f"user:{user_id}"


def speech_channel(transcript_id: str, language: str) -> str:
    """Translated speech of one live transcript in one language (audio, not stored)."""
    return f"transcript:{transcript_id}:speech:{language}"
