"""``GET /v1/search?q=…``: ranked full-text search with highlighted snippets."""

from __future__ import annotations

import html
import math
from typing import Annotated

from fastapi import APIRouter, Query

from reflector.api.deps import Session, User
from reflector.api.schemas import Page, SearchHitOut
from reflector.db import repository

router = APIRouter(prefix="/v1", tags=["search"])


def _safe_snippet(snippet: str) -> str:
    """Escape everything, then restore only our own ``<mark>`` tags."""
    escaped = html.escape(snippet or "", quote=False)
    return escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>")


@router.get("/search", response_model=Page[SearchHitOut])
async def search(
    session: Session,
    user: User,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[SearchHitOut]:
    hits, total = await repository.search_transcripts(session, user.id, q, (page - 1) * size, size)
    return Page[SearchHitOut](
        items=[
            SearchHitOut(
                id=h.transcript_id, title=h.title, rank=h.rank, snippet=_safe_snippet(h.snippet)
            )
            for h in hits
        ],
        total=total,
        page=page,
        size=size,
        pages=max(1, math.ceil(total / size)),
    )
