"""``GET /v1/server``: the version, models and limits clients adapt to (the web app's Settings
page shows them; its upload page sizes its chunks by them)."""

from __future__ import annotations

from reflector import __version__
from reflector_testkit.servers import running_client, server_settings


def test_server_info_names_models_and_limits_without_secrets(tmp_path):
    settings = server_settings(
        tmp_path,
        None,
        live_preload=False,
        asr_model=str(tmp_path / "models" / "whisper-large-v3"),
        llm_backend="openai",
        llm_openai_model="meeting-writer",
        llm_openai_base_url="http://10.1.2.3:8000/v1",
        llm_openai_api_key="sk-very-secret",
        diarization_backend="off",
        upload_chunk_bytes=4 * 1024**2,
        max_upload_bytes=2 * 1024**3,
    )
    with running_client(settings) as client:
        answer = client.get("/v1/server")
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["version"] == __version__
    assert body["models"] == {
        "transcription": "whisper-large-v3",  # a model folder by its name, not its path
        "transcription_device": "cpu",
        "live": "tiny.en",
        "summaries": "meeting-writer",
        "summaries_backend": "openai",
        "diarization": "off",
        "translation": "auto",
        "speech": "local",
    }
    assert body["limits"] == {
        "max_upload_bytes": 2 * 1024**3,
        "upload_chunk_bytes": 4 * 1024**2,
        "max_audio_seconds": settings.max_audio_seconds,
    }
    assert body["integrations"] == {"zulip": False}  # no bot set up
    # Where models live and how remote ones are reached stays on the server.
    for private in ("sk-very-secret", "10.1.2.3", str(tmp_path)):
        assert private not in answer.text


def test_server_info_needs_a_caller_where_keys_are_required(tmp_path):
    settings = server_settings(tmp_path, None, live_preload=False, auth_mode="api-key")
    with running_client(settings) as client:
        answer = client.get("/v1/server")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/authentication-required")
