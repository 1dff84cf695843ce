"""Uploads: resumable and single-request uploads of a recording, and (re)processing."""
