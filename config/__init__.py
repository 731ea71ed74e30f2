"""One immutable settings object, read from the environment.

Every variable is listed in the README's configuration table. Secrets have no production default:
`load_settings` raises `ConfigError` (one line) when production mode lacks one.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

LOCAL_JWT_SECRET = "local-development-secret-do-not-use-in-production"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/allign"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
# Local mode only (never test or production): a patient and an admin to log in with at once.
LOCAL_OTP_TEST_NUMBERS = "+919999999999:123456"
LOCAL_ADMIN = ("admin", "allign-local-admin")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message is one line, fit for stderr."""


def _test_prefix(prefix: str, code: str, production: bool) -> tuple[str, str]:
    """OTP_TEST_PREFIX + OTP_TEST_CODE: both or neither; refused in production."""
    if not prefix and not code:
        return "", ""
    if production:
        raise ConfigError("OTP_TEST_PREFIX / OTP_TEST_CODE are for local and test modes; production refuses them")
    if not (prefix.startswith("+") and prefix[1:].isdigit() and len(prefix) >= 4):
        raise ConfigError(f"OTP_TEST_PREFIX must look like +9199 (a + and at least three digits), not {prefix!r}")
    if not (code.isdigit() and len(code) == 6):
        raise ConfigError("OTP_TEST_CODE must be six digits (and is set with OTP_TEST_PREFIX)")
    return prefix, code


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _test_numbers(raw: str) -> dict[str, str]:
    """`+919999999999:123456,+919999999998:654321` → {phone: code}."""
    numbers: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        phone, sep, code = part.partition(":")
        if not sep or not code.isdigit() or len(code) != 6:
            raise ConfigError(f"OTP_TEST_NUMBERS entry {phone!r} must look like +91...:123456")
        numbers[phone.strip()] = code
    return numbers


def _cashfree_env(value: str) -> str:
    if value not in ("sandbox", "production"):
        raise ConfigError(f"CASHFREE_ENV must be sandbox or production, not {value!r}")
    return value


def _seconds(raw: str, name: str, default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def _duration(raw: str, name: str, default: int) -> int:
    """Seconds, or a number with a unit: `3600`, `90m`, `1h`, `45s`."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = raw.strip().lower()
    try:
        value = int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text or default)
    except ValueError:
        raise ConfigError(f"{name} must be seconds or a number with s/m/h, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def _origins(raw: str) -> tuple[str, ...]:
    """`https://console.allign.in,http://127.0.0.1:8013` → normalized origins, as browsers send them."""
    origins = []
    for part in filter(None, (p.strip().lower().rstrip("/") for p in raw.split(","))):
        if not _ORIGIN.fullmatch(part):
            raise ConfigError(f"CORS_ALLOWED_ORIGINS entry {part!r} must be an origin like https://console.example.com")
        origins.append(part)
    return tuple(origins)


@dataclass(frozen=True)
class Settings:
    env: str = "local"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # server processes on the port (gateway.supervisor); 1 = this process serves
    public_base_url: str = ""
    database_url: str = LOCAL_DATABASE_URL
    db_pool_size: int = 10
    db_pool_timeout_ms: int = 5000
    redis_url: str = LOCAL_REDIS_URL
    redis_prefix: str = "allign:"
    jwt_secret: str = LOCAL_JWT_SECRET
    access_token_ttl: int = 30 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    otp_ttl: int = 5 * 60
    otp_max_attempts: int = 5
    otp_rate_per_phone: int = 5
    otp_rate_per_ip: int = 20
    otp_rate_window: int = 15 * 60
    otp_test_numbers: Mapping[str, str] = field(default_factory=dict)
    otp_test_prefix: str = ""  # with otp_test_code: every number with this prefix (load tests; never production)
    otp_test_code: str = ""
    sms_provider: str = "local"
    sms_http_url: str = ""
    sms_http_token: str = ""
    sms_sender_android: str = "ALLIGN"
    sms_sender_ios: str = "ALLIGN"
    admin_bootstrap_username: str = ""
    admin_bootstrap_password: str = ""
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 10 * 1024 * 1024
    session_request_ttl: int = 30 * 60
    session_min_prepaid_minutes: int = 5
    sweeper_interval: float = 5.0  # seconds between the session sweeper's passes
    shutdown_timeout: float = 10.0  # SIGTERM: seconds in-flight requests get before the process stops
    followup_reminder_before: int = 3600     # seconds before an accepted follow-up's time
    followup_reminder_interval: float = 30.0  # seconds between the reminder job's passes
    sse_ping_interval: float = 15.0
    sse_retry_ms: int = 3000
    event_history_len: int = 1000
    send_queue_size: int = 256
    ws_heartbeat: float = 30.0
    cors_allowed_origins: tuple[str, ...] = ()  # browser origins for REST, SSE and websockets; empty: none
    metrics_token: str = ""                      # set: GET /metrics wants it as a bearer token
    login_max_failures: int = 5                  # password logins: failures per account before a lockout
    login_max_failures_per_ip: int = 20          # ... and per client IP
    login_failure_window: int = 15 * 60          # seconds failures are counted over
    login_lockout: int = 5 * 60                  # seconds a locked account or IP waits
    livekit_url: str = "ws://127.0.0.1:7880"
    livekit_api_key: str = "devkey"
    livekit_api_secret: str = "local-livekit-secret-at-least-32-chars"
    blob_backend: str = "local"
    blob_local_dir: str = "var/blobs"
    blob_signing_secret: str = ""
    azure_storage_connection_string: str = ""
    fcm_credentials_file: str = ""
    fcm_send_url: str = ""
    cashfree_client_id: str = ""       # empty (with the secret): local payments, never in production
    cashfree_client_secret: str = ""   # also the key Cashfree signs its webhooks with
    cashfree_env: str = "sandbox"
    cashfree_base_url: str = ""        # API root including /pg; overrides cashfree_env's root
    cashfree_timeout: float = 10.0
    payment_order_ttl: int = 30 * 60           # order_expiry_time sent to Cashfree
    payment_reconcile_after: int = 10 * 60     # a PENDING order is asked about after this long
    payment_reconcile_interval: float = 60.0
    payment_webhook_tolerance: int = 5 * 60    # webhook timestamps older (or newer) are refused
    seed_demo_data: bool = True
    apply_migrations: bool = True
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def payments_local(self) -> bool:
        """No Cashfree credentials outside production: the local checkout (production never has it)."""
        return not (self.cashfree_client_id and self.cashfree_client_secret) and not self.is_production

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    mode = env.get("ALLIGN_ENV", "local").strip() or "local"
    if mode not in {"local", "production", "test"}:
        raise ConfigError(f"ALLIGN_ENV must be local, test or production, not {mode!r}")
    production = mode == "production"

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    def need(name: str, local_default: str) -> str:
        value = get(name)
        if value:
            return value
        if production:
            raise ConfigError(f"{name} is required when ALLIGN_ENV=production")
        return local_default

    def integer(name: str, default: int) -> int:
        raw = get(name)
        try:
            return int(raw) if raw else default
        except ValueError:
            raise ConfigError(f"{name} must be an integer, not {raw!r}") from None

    jwt_secret = need("JWT_SECRET", LOCAL_JWT_SECRET)
    if production and len(jwt_secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 characters in production")
    local = mode == "local"
    if bool(get("CASHFREE_CLIENT_ID") or get("CASHFREE_APP_ID")) != bool(
            get("CASHFREE_CLIENT_SECRET") or get("CASHFREE_SECRET_KEY")):
        raise ConfigError("CASHFREE_CLIENT_ID and CASHFREE_CLIENT_SECRET are set together (or neither: local payments)")
    if get("WS_ALLOWED_ORIGINS"):
        raise ConfigError("WS_ALLOWED_ORIGINS is replaced by CORS_ALLOWED_ORIGINS (REST, SSE and websockets)")
    prefix, prefix_code = _test_prefix(get("OTP_TEST_PREFIX"), get("OTP_TEST_CODE"), production)
    return Settings(
        env=mode,
        host=get("HOST", "127.0.0.1"),
        port=integer("PORT", 8000),
        workers=integer("WORKERS", (os.cpu_count() or 1) if production else 1),
        public_base_url=get("PUBLIC_BASE_URL").rstrip("/"),
        database_url=need("DATABASE_URL", LOCAL_DATABASE_URL),
        db_pool_size=integer("DB_POOL_SIZE", 10),
        db_pool_timeout_ms=integer("DB_POOL_TIMEOUT_MS", 5000),
        redis_url=need("REDIS_URL", LOCAL_REDIS_URL),
        redis_prefix=get("REDIS_PREFIX", "allign:"),
        jwt_secret=jwt_secret,
        otp_test_numbers=_test_numbers(env.get("OTP_TEST_NUMBERS", LOCAL_OTP_TEST_NUMBERS if local else "")),
        otp_test_prefix=prefix,
        otp_test_code=prefix_code,
        otp_rate_per_phone=integer("OTP_RATE_PER_PHONE", 5),
        otp_rate_per_ip=integer("OTP_RATE_PER_IP", 20),
        sms_provider=get("SMS_PROVIDER", "http" if production else "local"),
        sms_http_url=get("SMS_HTTP_URL"),
        sms_http_token=get("SMS_HTTP_TOKEN"),
        admin_bootstrap_username=get("ADMIN_BOOTSTRAP_USERNAME", LOCAL_ADMIN[0] if local else ""),
        admin_bootstrap_password=get("ADMIN_BOOTSTRAP_PASSWORD", LOCAL_ADMIN[1] if local else ""),
        max_body_bytes=integer("MAX_BODY_BYTES", 1024 * 1024),
        session_request_ttl=integer("SESSION_REQUEST_TTL", 30 * 60),
        sweeper_interval=_seconds(get("SWEEPER_INTERVAL"), "SWEEPER_INTERVAL", 5.0),
        shutdown_timeout=_seconds(get("SHUTDOWN_TIMEOUT"), "SHUTDOWN_TIMEOUT", 10.0),
        followup_reminder_before=_duration(get("FOLLOWUP_REMINDER_BEFORE"), "FOLLOWUP_REMINDER_BEFORE", 3600),
        followup_reminder_interval=_seconds(get("FOLLOWUP_REMINDER_INTERVAL"), "FOLLOWUP_REMINDER_INTERVAL", 30.0),
        cors_allowed_origins=_origins(get("CORS_ALLOWED_ORIGINS")),
        metrics_token=get("METRICS_TOKEN"),
        login_max_failures=integer("LOGIN_MAX_FAILURES", 5),
        login_max_failures_per_ip=integer("LOGIN_MAX_FAILURES_PER_IP", 20),
        login_failure_window=integer("LOGIN_FAILURE_WINDOW", 15 * 60),
        login_lockout=integer("LOGIN_LOCKOUT", 5 * 60),
        livekit_url=get("LIVEKIT_URL", "ws://127.0.0.1:7880"),
        livekit_api_key=need("LIVEKIT_API_KEY", "devkey"),
        livekit_api_secret=need("LIVEKIT_API_SECRET", "local-livekit-secret-at-least-32-chars"),
        blob_backend=get("BLOB_BACKEND", "azure" if production else "local"),
        blob_local_dir=get("BLOB_LOCAL_DIR", "var/blobs"),
        blob_signing_secret=get("BLOB_SIGNING_SECRET") or jwt_secret + ":blob",
        azure_storage_connection_string=get("AZURE_STORAGE_CONNECTION_STRING"),
        fcm_credentials_file=get("FCM_CREDENTIALS_FILE"),
        fcm_send_url=get("FCM_SEND_URL"),
        # CASHFREE_APP_ID / CASHFREE_SECRET_KEY: the names Cashfree's dashboard used before.
        cashfree_client_id=get("CASHFREE_CLIENT_ID") or get("CASHFREE_APP_ID"),
        cashfree_client_secret=get("CASHFREE_CLIENT_SECRET") or get("CASHFREE_SECRET_KEY"),
        cashfree_env=_cashfree_env(get("CASHFREE_ENV", "sandbox")),
        cashfree_base_url=get("CASHFREE_BASE_URL").rstrip("/"),
        cashfree_timeout=_seconds(get("CASHFREE_TIMEOUT"), "CASHFREE_TIMEOUT", 10.0),
        payment_order_ttl=integer("PAYMENT_ORDER_TTL", 30 * 60),
        payment_reconcile_after=integer("PAYMENT_RECONCILE_AFTER", 10 * 60),
        payment_reconcile_interval=_seconds(get("PAYMENT_RECONCILE_INTERVAL"), "PAYMENT_RECONCILE_INTERVAL", 60.0),
        seed_demo_data=_bool(get("SEED_DEMO_DATA", "false" if production else "true")),
        apply_migrations=_bool(get("APPLY_MIGRATIONS", "false" if production else "true")),
        log_level=get("LOG_LEVEL", "INFO"),
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_address(settings: Settings) -> None:
    """Local mode's built-in secrets are published (this file, the README): serving them beyond this
    machine would let anyone mint tokens or log in. Refused unless HOST is loopback or they are set."""
    if settings.env != "local" or _loopback(settings.host):
        return
    builtin = [name for name, used in (
        ("JWT_SECRET", settings.jwt_secret == LOCAL_JWT_SECRET),
        ("ADMIN_BOOTSTRAP_PASSWORD", settings.admin_bootstrap_password == LOCAL_ADMIN[1]),
        ("LIVEKIT_API_SECRET", settings.livekit_api_secret == Settings.livekit_api_secret),
        ("OTP_TEST_NUMBERS", dict(settings.otp_test_numbers) == _test_numbers(LOCAL_OTP_TEST_NUMBERS)),
    ) if used]
    if builtin:
        raise ConfigError(f"HOST={settings.host or '(all interfaces)'} is not a loopback address and local mode "
                          f"would serve its built-in {', '.join(builtin)}: set them (OTP_TEST_NUMBERS may be empty), "
                          "or use ALLIGN_ENV=production, or HOST=127.0.0.1")
