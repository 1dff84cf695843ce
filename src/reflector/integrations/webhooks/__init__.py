"""Outgoing webhooks: signed, versioned JSON about transcripts and meetings, queued in the
database and delivered in the background with retries (see docs/webhooks.md).

Other code queues events with :func:`queue_meeting_event` (rooms) and, through
``pipelines.notify``, :func:`queue_transcript_settled`.
"""

from reflector.integrations.webhooks.queue import queue_meeting_event, queue_transcript_settled

__all__ = ["queue_meeting_event", "queue_transcript_settled"]
