"""What the bodies of every feature share: strict request bodies, pages, rows as responses."""

from __future__ import annotations

import math
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

Item = TypeVar("Item")
Model = TypeVar("Model", bound=BaseModel)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class StrictBody(BaseModel):
    """A request body: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database.
        if _has_nul(value):
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    page: int
    size: int
    pages: int


def page_of(model: type[Item], items: list[Item], total: int, page: int, size: int) -> Page[Item]:
    """Page ``page`` (from 1) of ``total`` items, ``size`` a page."""
    return Page[model](  # type: ignore[valid-type]
        items=items, total=total, page=page, size=size, pages=max(1, math.ceil(total / size))
    )


def from_row(model: type[Model], row: object, **computed: Any) -> Model:
    """``model`` with every field read from the row's attribute of the same name, except the
    ``computed`` ones, given as keywords."""
    values = {
        name: computed[name] if name in computed else getattr(row, name)
        for name in model.model_fields
    }
    return model.model_validate(values)


def validation_details(error: ValidationError) -> str:
    """``field: message`` for every wrong field, for a message sent to a client."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
