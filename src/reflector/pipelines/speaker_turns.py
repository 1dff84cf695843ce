"""A server transcript's speaker turns, kept as one JSON blob beside its audio.

The diarize stage writes them; the export route reads them; renaming a speaker needs nothing
here (turns carry numbers, names come from the participants), while assigning or merging
speakers rewrites them like the words. A transcript processed before turns were kept has
none, and exports fall back to what the words say.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import TypeAdapter

from reflector.blobs import BlobNotFound, BlobStore
from reflector.domain import Turn

_TURNS = TypeAdapter(list[Turn])


def turns_key(transcript_id: str) -> str:
    return f"transcripts/{transcript_id}/speaker_turns.json"


async def store_turns(blobs: BlobStore, transcript_id: str, turns: list[Turn]) -> None:
    data = json.dumps([t.model_dump(mode="json") for t in turns]).encode()
    await blobs.put_bytes(turns_key(transcript_id), data, "application/json")


async def load_turns(blobs: BlobStore, transcript_id: str) -> list[Turn]:
    """The stored turns; none if the transcript has no speakers or predates stored turns."""
    try:
        data = await blobs.get_bytes(turns_key(transcript_id))
    except BlobNotFound:
        return []
    return _TURNS.validate_json(data)


async def change_turns(
    blobs: BlobStore, transcript_id: str, change: Callable[[list[Turn]], list[Turn]]
) -> None:
    """Rewrite the stored turns with ``change`` (nothing to do where none are stored)."""
    turns = await load_turns(blobs, transcript_id)
    if turns:
        await store_turns(blobs, transcript_id, change(turns))
