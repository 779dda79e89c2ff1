"""Settings: one TOML file plus environment overrides, with an embedded default.

Every limit the API enforces is a named setting here, documented in
``docs/configuration.md``.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import msgspec

from sfumato.engines import EngineConfig, EngineLimits


class ConfigError(Exception):
    """The config file or an environment override is invalid."""


# glibc takes the trim threshold as a C int of bytes.
MAX_KEEP_FREED_MEMORY_MIB = 2047


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 5000
    api_keys: list[str] = []
    default_engine: str = ""
    cache_dir: str = ""
    # Browser origins allowed to call the API (CORS), e.g. ["http://localhost:3000"] or ["*"]; empty = no CORS headers.
    cors_origins: list[str] = []
    # Worker threads for the native image kernels; 0 = one per core.
    image_threads: int = 0
    log_level: str = "info"
    # Test-only extension parameters (step_delay_ms, fail, fail_index) are refused unless this is on.
    test_controls: bool = False
    # Connections: beyond max_connections new ones get 503; slow or idle clients are dropped.
    max_connections: int = 1000
    # The request line and headers together; more gets 431 and the connection is closed.
    max_header_bytes: int = 64 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    keepalive_timeout_seconds: float = 5.0
    # HTTP/1.1 parser: "auto" (httptools, the C one, when installed), "httptools" or "h11".
    http_parser: str = "auto"
    # Freed memory (MiB) glibc's malloc keeps for the next request instead of returning it to the OS; 0 = glibc's defaults.
    keep_freed_memory_mib: int = 256


class LimitSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    max_body_bytes: int = 64 * 1024 * 1024
    max_prompts: int = 64
    max_prompt_chars: int = 20_000
    max_input_pixels: int = 4096 * 4096
    max_input_side: int = 8192
    max_loras: int = 8
    max_adjustments: int = 32
    max_seed_entries: int = 1024
    # requestId and any other free-form client string that may reach the log.
    max_request_id_chars: int = 256
    # How deeply a JSON body may nest objects and arrays (the body's own object is level 1).
    max_json_depth: int = 64
    # Image preparation (decode + adjustments) across all requests at once: threads and bytes.
    image_work_slots: int = 2
    image_work_bytes: int = 1024 * 1024 * 1024
    # How long a request waits for image-work room before 429.
    image_work_wait_seconds: float = 30.0


class JobSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Jobs waiting for a worker, per engine (an engine's own queue_size overrides it); beyond it 429.
    queue_size: int = 64
    # PNG bytes of finished async answers not yet fetched, all jobs together; beyond it AsyncGenerate gets 429.
    max_async_result_bytes: int = 512 * 1024 * 1024
    # Finished async results are kept this long for AsyncResult, then purged.
    async_retention_seconds: float = 600.0
    # How long AsyncResult waits for a new answer before returning an empty one.
    async_poll_wait_seconds: float = 0.5
    # Cross-request batching: how long a worker waits to fill a batch when more work is queued.
    batch_window_ms: float = 5.0
    # On shutdown, running jobs get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = 10.0


class QuotaSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Per-client limits: the client is its API key, or its address when keys are off. 0 = no limit."""

    # Jobs accepted and not finished (queued or running).
    max_active_jobs: int = 8
    # Jobs accepted and not yet started.
    max_queued_jobs: int = 8
    # API requests per minute (health probes and /metrics excluded).
    requests_per_minute: int = 600


class QueueSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The job backbone (a Redis-protocol server). Empty url: everything runs in this process."""

    # redis://[user:password@]host:port/db or rediss:// (TLS); never logged with its password.
    url: str = ""
    # Prefix of every key, so several deployments can share one server.
    prefix: str = "sfumato"
    # A running job whose worker stops renewing it for this long is given to another worker.
    lease_seconds: float = 30.0
    # Deliveries of one job (its worker died each time) before it ends with INTERNAL.
    max_attempts: int = 3
    # Workers refresh their registration this often; one silent for 3 beats is gone.
    heartbeat_seconds: float = 2.0


class EventSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Live progress events (GET /jobs/{id}/events) and previews."""

    # An SSE comment line this often keeps proxies from closing a quiet stream.
    heartbeat_seconds: float = 15.0
    # A listener gets at most one write per this many ms; the events in between go together.
    send_interval_ms: float = 250.0
    # Previews (only while a listener asked for them): at most every N steps and one per T ms.
    preview_every_steps: int = 1
    preview_min_interval_ms: float = 250.0
    # The longer side of a preview image, in pixels.
    preview_max_side: int = 256
    # A finished job's events can be replayed this long after it ended…
    retention_seconds: float = 600.0
    # …and at most this many jobs' events are kept (the oldest go first); on the backbone, the backbone keeps them.
    max_retained_jobs: int = 10_000
    # SSE streams open at once, all clients; beyond it 429.
    max_listeners: int = 2000


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Completion notices POSTed to a URL a request names (extension parameter ``webhook_url``)."""

    # URL patterns (fnmatch, e.g. "https://hooks.example.com/*") a request may name; empty = webhooks off.
    allow: list[str] = []
    # Signs each notice (HMAC-SHA256); required when allow is set.
    secret: str = ""
    # Tries per notice, the first included, with exponential backoff from backoff_seconds.
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0
    # Notices being sent at once; more wait their turn (a job never waits for a webhook).
    max_concurrent: int = 8
    # Notices waiting to be sent; beyond it new ones are dropped and logged.
    max_pending: int = 1000


class GrpcSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Native gRPC on its own port (on server.host), and gRPC-web on the HTTP port."""

    enabled: bool = True
    port: int = 50051
    # Largest message a client may send / the server sends; the default lets a 16 MiB init image and its mask in.
    max_receive_message_bytes: int = 64 * 1024 * 1024
    max_send_message_bytes: int = 64 * 1024 * 1024
    # PEM certificate chain and private key: both set = the gRPC port speaks TLS only.
    tls_cert: str = ""
    tls_key: str = ""
    # gRPC-web (application/grpc-web+proto, application/grpc-web-text) on the HTTP port.
    web_enabled: bool = True


class EngineEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: str
    kind: str
    name: str = ""
    description: str = ""
    model: str = ""
    options: dict[str, Any] = {}
    default_sampler: str | None = None
    default_steps: int | None = None
    max_batch_size: int = 4
    # Jobs waiting for this engine; unset = jobs.queue_size.
    queue_size: int | None = None
    enabled: bool = True
    visible: bool = True
    limits: EngineLimits = msgspec.field(default_factory=EngineLimits)

    def to_engine_config(self) -> EngineConfig:
        return EngineConfig(
            id=self.id,
            kind=self.kind,
            name=self.name or self.id,
            description=self.description,
            model=self.model,
            options=dict(self.options),
            default_sampler=self.default_sampler,
            default_steps=self.default_steps,
            limits=self.limits,
            max_batch_size=self.max_batch_size,
            queue_size=self.queue_size,
            visible=self.visible,
        )


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)
    quotas: QuotaSettings = msgspec.field(default_factory=QuotaSettings)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    grpc: GrpcSettings = msgspec.field(default_factory=GrpcSettings)
    events: EventSettings = msgspec.field(default_factory=EventSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    engines: list[EngineEntry] = []
    # Engines of the embedded default whose kind is not installed are skipped, not errors.
    skip_missing_kinds: bool = False

    def cache_path(self) -> Path:
        if self.server.cache_dir:
            return Path(self.server.cache_dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "sfumato"


DEFAULT_CONFIG = """
# The embedded default: a GPU-free test engine, plus a tiny random-weight
# diffusers model when the sfumato-diffusers plugin is installed, and two
# upscalers when sfumato-upscale is.
skip_missing_kinds = true

[server]
default_engine = "test-pattern"

[[engines]]
id = "test-pattern"
kind = "test-pattern"
name = "Test pattern"
description = "Deterministic procedural images for client development and CI (no model, no GPU)."

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
name = "Tiny SD (smoke test)"
description = "A tiny random-weight Stable Diffusion pipeline: exercises the real diffusers path, makes noise, not art."
default_steps = 4
[engines.limits]
max_width = 512
max_height = 512
max_pixels = 262144

[[engines]]
id = "rgb-upscaler"
kind = "rgb-upscale"
name = "RGB upscaler (Lanczos)"
description = "UPSCALER_RGB: enlarges the init image ×1 to ×8 with Lanczos resampling (no model, no GPU)."
[engines.limits]
max_width = 4096
max_height = 4096
max_pixels = 16777216

[[engines]]
id = "tiny-upscaler"
kind = "esrgan"
model = "tiny-upscaler"
name = "Tiny ESRGAN upscaler (smoke test)"
description = "A tiny random-weight RealESRGAN ×4 network through spandrel: exercises the real UPSCALER_ESRGAN path, upscales into noise, not detail."
[engines.limits]
max_width = 2048
max_height = 2048
max_pixels = 4194304
"""

# Environment overrides: variable → (section, key, type).
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "SFUMATO_HOST": ("server", "host", str),
    "SFUMATO_PORT": ("server", "port", int),
    "SFUMATO_API_KEYS": ("server", "api_keys", list),
    "SFUMATO_DEFAULT_ENGINE": ("server", "default_engine", str),
    "SFUMATO_CORS_ORIGINS": ("server", "cors_origins", list),
    "SFUMATO_CACHE_DIR": ("server", "cache_dir", str),
    "SFUMATO_IMAGE_THREADS": ("server", "image_threads", int),
    "SFUMATO_KEEP_FREED_MEMORY_MIB": ("server", "keep_freed_memory_mib", int),
    "SFUMATO_HTTP_PARSER": ("server", "http_parser", str),
    "SFUMATO_LOG_LEVEL": ("server", "log_level", str),
    "SFUMATO_TEST_CONTROLS": ("server", "test_controls", bool),
    "SFUMATO_MAX_CONNECTIONS": ("server", "max_connections", int),
    "SFUMATO_QUEUE_SIZE": ("jobs", "queue_size", int),
    "SFUMATO_ASYNC_RETENTION_SECONDS": ("jobs", "async_retention_seconds", float),
    "SFUMATO_BATCH_WINDOW_MS": ("jobs", "batch_window_ms", float),
    "SFUMATO_MAX_BODY_BYTES": ("limits", "max_body_bytes", int),
    "SFUMATO_IMAGE_WORK_BYTES": ("limits", "image_work_bytes", int),
    "SFUMATO_MAX_ASYNC_RESULT_BYTES": ("jobs", "max_async_result_bytes", int),
    "SFUMATO_REQUESTS_PER_MINUTE": ("quotas", "requests_per_minute", int),
    "SFUMATO_QUEUE_URL": ("queue", "url", str),
    "SFUMATO_GRPC_ENABLED": ("grpc", "enabled", bool),
    "SFUMATO_GRPC_PORT": ("grpc", "port", int),
    "SFUMATO_WEBHOOK_SECRET": ("webhooks", "secret", str),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for variable, (section, key, kind) in ENV_OVERRIDES.items():
        if variable not in environ:
            continue
        text = environ[variable]
        try:
            value: Any
            if kind is list:
                value = [part.strip() for part in text.split(",") if part.strip()]
            elif kind is bool:
                if text.strip().lower() not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = text.strip().lower() in _TRUE
            else:
                value = kind(text)
        except ValueError as exc:
            raise ConfigError(f"{variable}={text!r}: expected {kind.__name__}") from exc
        raw.setdefault(section, {})[key] = value


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read ``path`` (or ``$SFUMATO_CONFIG``, or the embedded default) and apply env overrides."""
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get("SFUMATO_CONFIG") or None
    if path is None:
        source, text = "<embedded default>", DEFAULT_CONFIG
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {source}: {exc.strerror}") from exc
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    _apply_env(raw, environ)
    try:
        settings = msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    _check(settings, source)
    return settings


def _check(settings: Settings, source: str) -> None:
    ids = [entry.id for entry in settings.engines]
    duplicates = sorted({engine_id for engine_id in ids if ids.count(engine_id) > 1})
    if duplicates:
        raise ConfigError(f"{source}: engine ids must be unique, repeated: {', '.join(duplicates)}")
    if not 0 < settings.server.port < 65536:
        raise ConfigError(f"{source}: server.port must be 1..65535, got {settings.server.port}")
    if settings.server.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{source}: server.log_level must be debug, info, warning, error or critical")
    if settings.server.max_header_bytes < 1024:
        raise ConfigError(f"{source}: server.max_header_bytes must be at least 1024, got {settings.server.max_header_bytes}")
    if settings.server.http_parser not in ("auto", "httptools", "h11"):
        raise ConfigError(f"{source}: server.http_parser must be auto, httptools or h11, got {settings.server.http_parser!r}")
    if settings.server.http_parser == "httptools" and find_spec("httptools") is None:
        raise ConfigError(f"{source}: server.http_parser = \"httptools\" but httptools is not installed")
    if not 0 <= settings.server.keep_freed_memory_mib <= MAX_KEEP_FREED_MEMORY_MIB:
        raise ConfigError(f"{source}: server.keep_freed_memory_mib must be 0..{MAX_KEEP_FREED_MEMORY_MIB}, "
                          f"got {settings.server.keep_freed_memory_mib}")
    for index, key in enumerate(settings.server.api_keys):
        if not key.strip():
            raise ConfigError(f"{source}: server.api_keys[{index}] is empty; an empty key would let anyone in")
        if key != key.strip():
            raise ConfigError(f"{source}: server.api_keys[{index}] has spaces around it; remove them")
    if settings.jobs.queue_size < 1:
        raise ConfigError(f"{source}: jobs.queue_size must be at least 1")
    positive = {
        "server.max_connections": settings.server.max_connections,
        "server.header_timeout_seconds": settings.server.header_timeout_seconds,
        "server.body_timeout_seconds": settings.server.body_timeout_seconds,
        "server.keepalive_timeout_seconds": settings.server.keepalive_timeout_seconds,
        "limits.max_request_id_chars": settings.limits.max_request_id_chars,
        "limits.max_json_depth": settings.limits.max_json_depth,
        "limits.image_work_slots": settings.limits.image_work_slots,
        "limits.image_work_bytes": settings.limits.image_work_bytes,
        "jobs.max_async_result_bytes": settings.jobs.max_async_result_bytes,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{source}: {name} must be greater than 0, got {value}")
    _check_grpc(settings.grpc, source)
    queue = settings.queue
    if queue.url and not queue.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{source}: queue.url must start with redis://, rediss:// or unix://")
    if queue.lease_seconds <= 0 or queue.heartbeat_seconds <= 0 or queue.max_attempts < 1:
        raise ConfigError(f"{source}: queue.lease_seconds and heartbeat_seconds must be > 0, max_attempts ≥ 1")
    events, webhooks = settings.events, settings.webhooks
    for name, value in {
        "events.heartbeat_seconds": events.heartbeat_seconds,
        "events.preview_every_steps": events.preview_every_steps,
        "events.preview_max_side": events.preview_max_side,
        "events.retention_seconds": events.retention_seconds,
        "events.max_retained_jobs": events.max_retained_jobs,
        "events.max_listeners": events.max_listeners,
        "webhooks.max_attempts": webhooks.max_attempts,
        "webhooks.timeout_seconds": webhooks.timeout_seconds,
        "webhooks.max_concurrent": webhooks.max_concurrent,
        "webhooks.max_pending": webhooks.max_pending,
    }.items():
        if not value > 0:
            raise ConfigError(f"{source}: {name} must be greater than 0, got {value}")
    if events.preview_min_interval_ms < 0 or events.send_interval_ms < 0 or webhooks.backoff_seconds < 0:
        raise ConfigError(
            f"{source}: events.preview_min_interval_ms, events.send_interval_ms and webhooks.backoff_seconds "
            "must be 0 or more"
        )
    if webhooks.allow and not webhooks.secret:
        raise ConfigError(f"{source}: webhooks.allow is set but webhooks.secret is empty; notices must be signed")
    for name in ("max_active_jobs", "max_queued_jobs", "requests_per_minute"):
        if getattr(settings.quotas, name) < 0:
            raise ConfigError(f"{source}: quotas.{name} must be 0 (no limit) or more")
    for entry in settings.engines:
        if entry.max_batch_size < 1:
            raise ConfigError(f"{source}: engine {entry.id!r}: max_batch_size must be at least 1")
        if entry.queue_size is not None and entry.queue_size < 1:
            raise ConfigError(f"{source}: engine {entry.id!r}: queue_size must be at least 1")
        if entry.limits.size_multiple < 1:
            raise ConfigError(f"{source}: engine {entry.id!r}: limits.size_multiple must be at least 1")


def _check_grpc(grpc: GrpcSettings, source: str) -> None:
    if not 0 < grpc.port < 65536:
        raise ConfigError(f"{source}: grpc.port must be 1..65535, got {grpc.port}")
    for name in ("max_receive_message_bytes", "max_send_message_bytes"):
        if not 0 < getattr(grpc, name) < 2**31:
            raise ConfigError(f"{source}: grpc.{name} must be 1..2147483647 (gRPC's limit), got {getattr(grpc, name)}")
    if bool(grpc.tls_cert) != bool(grpc.tls_key):
        raise ConfigError(f"{source}: grpc.tls_cert and grpc.tls_key go together: set both for TLS, or neither")
