"""Transcripts: create, read, change and delete them; their results, audio, exports and search."""
