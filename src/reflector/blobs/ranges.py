"""HTTP Range arithmetic shared by the stores, so both answer the same way at the edges."""

from __future__ import annotations

from .protocol import BlobRangeError


def check_range_args(start: int, end: int | None, chunk_size: int) -> None:
    """Reject arguments no HTTP Range header could produce (caller bugs, not storage errors)."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, got {start}")
    if end is not None and end < start:
        raise ValueError(f"range end {end} is before start {start}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


def clamp_range(key: str, start: int, end: int | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` to read from a blob of ``size`` bytes.

    ``None`` means there is nothing to read: the whole of an empty blob was asked for. An ``end``
    past the last byte is clamped to it, as HTTP does; a ``start`` past it raises
    :class:`BlobRangeError`.
    """
    if size == 0 and start == 0:
        return None
    if start >= size:
        raise BlobRangeError(key, start, size)
    last = size - 1
    return start, last if end is None else min(end, last)
