"""``GET /v1/search?q=…``: ranked full-text search with highlighted snippets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from reflector.api.deps import Session, User
from reflector.api.schemas import Page, page_of
from reflector.api.transcripts.schemas import SearchHitOut
from reflector.api.transcripts.service import search_hit_out
from reflector.db import repository

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=Page[SearchHitOut])
async def search(
    session: Session,
    user: User,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[SearchHitOut]:
    hits, total = await repository.search_transcripts(session, user.id, q, (page - 1) * size, size)
    return page_of(SearchHitOut, [search_hit_out(h) for h in hits], total, page, size)
