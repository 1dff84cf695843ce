"""Pipelines: engines wired into jobs (file transcription first)."""
