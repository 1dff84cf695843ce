"""Driving a transcript's notifications (Zulip posts, summary emails) in an app under test, as
a finishing job and the server's housekeeping loop do."""

from __future__ import annotations

from fastapi.testclient import TestClient

from reflector.domain.status import TranscriptStatus
from reflector.integrations.tasks import run_due
from reflector.pipelines.lifecycle import set_status


def settle(
    client: TestClient, transcript_id: str, status: TranscriptStatus = TranscriptStatus.ENDED
) -> None:
    """Move the transcript to ``status`` through the lifecycle, which queues what it sends."""
    state = client.app.state.reflector
    client.portal.call(set_status, state.sessions, state.bus, transcript_id, status)


def send_notifications(client: TestClient) -> None:
    """One round of the integrations' periodic work: send every notification that is due."""
    state = client.app.state.reflector
    client.portal.call(run_due, state.sessions, state.blobs, state.settings)
