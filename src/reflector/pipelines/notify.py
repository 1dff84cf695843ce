"""What happens when a transcript settles (``ended`` or ``error``): the integrations that tell
people about it are queued here, in the same place for every way a transcript finishes.

Each integration only records what is to be sent; the sending runs in the background (the job
system), so a slow or broken receiver never delays or fails the transcript itself.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.domain.status import TranscriptStatus
from reflector.integrations.settled import queue_chat_and_email
from reflector.integrations.webhooks import queue_transcript_settled


async def transcript_settled(
    session: AsyncSession, transcript_id: str, status: TranscriptStatus
) -> None:
    """Queue the notifications for a transcript that just reached ``status``."""
    await queue_transcript_settled(session, transcript_id, status)  # never raises
    await queue_chat_and_email(session, transcript_id, status)
