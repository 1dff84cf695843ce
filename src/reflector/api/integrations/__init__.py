"""Zulip (streams and topics for the web app, posting a transcript), room calendars (sync now,
status) and summary emails (asking for one)."""
