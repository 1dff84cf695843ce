"""Reflector: offline meeting transcription, summaries and a voice API."""

__version__ = "0.1.0"
