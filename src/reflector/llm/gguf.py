"""Read the metadata header of a GGUF file without loading the model.

Used to confirm that an assembled file really is the model we expect (architecture, name,
context length) and to show it in ``reflector models``. Only the key/value header is parsed;
large arrays (the tokenizer vocabulary) are skipped, not decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from reflector.errors import BadInputError

GGUF_MAGIC = b"GGUF"

# GGUF value types (see ggml/docs/gguf.md).
_SCALARS: dict[int, str] = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_STRING = 8
_ARRAY = 9


class GgufError(BadInputError, ValueError):
    """The file is not a readable GGUF model."""


@dataclass(frozen=True)
class GgufInfo:
    """What the header says about a model."""

    version: int
    tensor_count: int
    architecture: str | None
    name: str | None
    context_length: int | None
    file_type: int | None
    chat_template: str | None
    metadata: dict[str, object] = field(default_factory=dict, repr=False)
    """Scalar and string values; arrays are recorded as their length only."""


def _read(handle: BinaryIO, fmt: str) -> object:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GgufError("GGUF header is truncated")
    return struct.unpack(fmt, data)[0]


def _read_string(handle: BinaryIO) -> str:
    length = int(_read(handle, "<Q"))  # type: ignore[arg-type]
    if length > 1 << 24:
        raise GgufError("GGUF string length is implausible; the file is corrupt")
    data = handle.read(length)
    if len(data) != length:
        raise GgufError("GGUF header is truncated")
    return data.decode("utf-8", errors="replace")


def _read_value(handle: BinaryIO, value_type: int) -> object:
    if value_type in _SCALARS:
        return _read(handle, _SCALARS[value_type])
    if value_type == _STRING:
        return _read_string(handle)
    if value_type == _ARRAY:
        item_type = int(_read(handle, "<I"))  # type: ignore[arg-type]
        count = int(_read(handle, "<Q"))  # type: ignore[arg-type]
        if item_type in _SCALARS:
            # Fixed-size items: seek past them instead of decoding thousands of numbers.
            handle.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
        elif item_type == _STRING:
            for _ in range(count):
                length = int(_read(handle, "<Q"))  # type: ignore[arg-type]
                handle.seek(length, 1)
        else:
            for _ in range(count):
                _read_value(handle, item_type)
        return f"<array of {count}>"
    raise GgufError(f"unknown GGUF value type {value_type}")


def read_gguf_info(path: Path) -> GgufInfo:
    """Parse the GGUF header of ``path``; raises :class:`GgufError` if it is not GGUF."""
    with Path(path).open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise GgufError(f"{path} is not a GGUF file (bad magic)")
        version = int(_read(handle, "<I"))  # type: ignore[arg-type]
        if version < 2:
            raise GgufError(f"{path}: GGUF version {version} is too old")
        tensor_count = int(_read(handle, "<Q"))  # type: ignore[arg-type]
        kv_count = int(_read(handle, "<Q"))  # type: ignore[arg-type]
        metadata: dict[str, object] = {}
        for _ in range(kv_count):
            key = _read_string(handle)
            value_type = int(_read(handle, "<I"))  # type: ignore[arg-type]
            metadata[key] = _read_value(handle, value_type)
    architecture = metadata.get("general.architecture")
    arch = architecture if isinstance(architecture, str) else None
    context = metadata.get(f"{arch}.context_length") if arch else None
    file_type = metadata.get("general.file_type")
    name = metadata.get("general.name")
    template = metadata.get("tokenizer.chat_template")
    return GgufInfo(
        version=version,
        tensor_count=tensor_count,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        context_length=int(context) if isinstance(context, int) else None,
        file_type=int(file_type) if isinstance(file_type, int) else None,
        chat_template=template if isinstance(template, str) else None,
        metadata=metadata,
    )
