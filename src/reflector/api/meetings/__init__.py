"""Meetings of rooms: joining, recording, participants' consent, platform events."""
