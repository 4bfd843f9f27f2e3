"""Typed settings, read from the environment once and passed to create_app()."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_KEY = 32
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'storefront.db'}"


class SettingsError(ValueError):
    """A setting is missing, malformed or unsafe for the chosen environment."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = DEFAULT_DATABASE_URL
    session_store_url: str = ""
    cookie_secure: bool = False
    session_idle_seconds: int = 7 * 24 * 3600
    session_absolute_seconds: int = 30 * 24 * 3600
    session_refresh_seconds: int = 300
    max_line_quantity: int = 99
    currency: str = "EUR"
    page_size: int = 12
    max_body_bytes: int = 64 * 1024
    # The app server's own limits (web/serving.py, uvicorn): a request's line and headers, the time a
    # connection has to send them, how long an idle connection is kept, and the connections (or
    # requests in progress) one worker takes before answering 503.
    max_header_bytes: int = 16 * 1024
    header_timeout_seconds: int = 5
    keep_alive_seconds: int = 5
    max_concurrency: int = 2048
    run_units_inline: bool | None = None
    # Each worker's pool of database connections (not SQLite's): kept open, extra ones opened under
    # load and closed after, and how long a unit waits for one before its request gets a 503.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: int = 10
    # How long a SQLite write waits for another process's lock before the request gets a 503; None
    # is web/db.py's SQLITE_BUSY_TIMEOUT_MS (2 s). Tests shorten it.
    sqlite_busy_timeout_ms: int | None = None
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Failed logins: a lock per account from one address and per address; past the per-account
    # ceiling (attempts from many addresses) one attempt per login_slow_seconds, a slow-down, never a lock.
    login_max_failures_per_account_and_address: int = 5
    login_max_failures_per_address: int = 20
    login_max_failures_per_account: int = 100
    login_slow_seconds: int = 5
    login_failure_window_seconds: int = 15 * 60
    guest_cart_days: int = 30
    trusted_proxies: tuple[str, ...] = ()
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    # Mail: over SMTP when smtp_url is set (smtp://user:pass@host:port, ?starttls=1), else .eml files in outbox_dir.
    smtp_url: str = ""
    mail_from: str = "Storefront <shop@localhost>"
    outbox_dir: Path = field(default=ROOT / "var" / "outbox")
    # The shop's address as shoppers reach it, for links in mail.
    public_url: str = "http://127.0.0.1:8000"
    # How often the server's background sender looks for mail to send (it is also woken after each order);
    # off, mail waits for `python -m web send-mail`.
    mail_poll_seconds: int = 30
    mail_in_background: bool = True
    # Live order streams: the pub/sub that carries their events between workers ("" = in this
    # process only, so one worker), how many one session may hold open, and how often they beat.
    events_url: str = ""
    streams_per_session: int = 4
    stream_heartbeat_seconds: int = 20
    # Order messages a session may post per minute.
    messages_per_minute: int = 10
    # Where uploaded product photos are stored (by content hash) and served from.
    media_dir: Path = field(default=ROOT / "var" / "media")
    templates_dir: Path = field(default=ROOT / "templates")
    static_dir: Path = field(default=ROOT / "static")
    # Signs the session IDs handed to visitors before they have anything stored, and their CSRF
    # tokens. Required in production; in development one is kept in var/secret-key.
    secret_key: str = ""
    # STOREFRONT_TEST_PAUSE=<point>:<flag file>, for tests only (refused in production): the server
    # waits at that point of a unit of work while the flag file exists (web/faults.py).
    test_pause: str = ""

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def cookie_name(self) -> str:
        """`__Host-` binds the cookie to this host, HTTPS and Path=/; browsers refuse it over HTTP."""
        return "__Host-session" if self.cookie_secure else "session"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        app_env = env.get("APP_ENV", "development") or "development"
        if app_env not in {"development", "production"}:
            raise SettingsError(f"APP_ENV must be development or production, got {app_env!r}")
        production = app_env == "production"
        inline = env.get("RUN_UNITS_INLINE")
        settings = cls(
            app_env=app_env,
            debug=_bool(env, "DEBUG", False),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000, minimum=1),
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            session_store_url=env.get("SESSION_STORE_URL", ""),
            cookie_secure=_bool(env, "COOKIE_SECURE", production),
            session_idle_seconds=_int(env, "SESSION_IDLE_SECONDS", 7 * 24 * 3600, minimum=60),
            session_absolute_seconds=_int(env, "SESSION_ABSOLUTE_SECONDS", 30 * 24 * 3600, minimum=60),
            max_line_quantity=_int(env, "CART_MAX_LINE_QUANTITY", 99, minimum=1),
            currency=(env.get("SHOP_CURRENCY") or "EUR").upper(),
            page_size=_int(env, "PAGE_SIZE", 12, minimum=1),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            max_header_bytes=_int(env, "MAX_HEADER_BYTES", 16 * 1024, minimum=1024),
            header_timeout_seconds=_int(env, "HEADER_TIMEOUT_SECONDS", 5, minimum=1),
            keep_alive_seconds=_int(env, "KEEP_ALIVE_SECONDS", 5, minimum=1),
            max_concurrency=_int(env, "MAX_CONCURRENCY", 2048, minimum=2),
            run_units_inline=None if inline in (None, "") else _bool(env, "RUN_UNITS_INLINE", True),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10, minimum=1),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 10, minimum=0),
            db_pool_timeout_seconds=_int(env, "DB_POOL_TIMEOUT_SECONDS", 10, minimum=1),
            argon2_memory_kib=_int(env, "ARGON2_MEMORY_KIB", 19456, minimum=19456),
            argon2_time_cost=_int(env, "ARGON2_TIME_COST", 2, minimum=2),
            argon2_parallelism=_int(env, "ARGON2_PARALLELISM", 1, minimum=1),
            login_max_failures_per_account_and_address=_int(
                env, "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5, minimum=1
            ),
            login_max_failures_per_address=_int(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1),
            login_max_failures_per_account=_int(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 100, minimum=1),
            login_slow_seconds=_int(env, "LOGIN_SLOW_SECONDS", 5, minimum=1),
            login_failure_window_seconds=_int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1),
            guest_cart_days=_int(env, "GUEST_CART_DAYS", 30, minimum=1),
            trusted_proxies=_list(env, "TRUSTED_PROXIES", ()),
            metrics_allow=_list(env, "METRICS_ALLOW", ("127.0.0.1", "::1")),
            smtp_url=env.get("SMTP_URL", ""),
            secret_key=env.get("SECRET_KEY", ""),
            mail_from=env.get("MAIL_FROM") or "Storefront <shop@localhost>",
            outbox_dir=Path(env["OUTBOX_DIR"]) if env.get("OUTBOX_DIR") else ROOT / "var" / "outbox",
            public_url=(env.get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            mail_poll_seconds=_int(env, "MAIL_POLL_SECONDS", 30, minimum=1),
            mail_in_background=_bool(env, "MAIL_IN_BACKGROUND", True),
            events_url=env.get("EVENTS_URL", _redis_or_empty(env.get("SESSION_STORE_URL", ""))),
            streams_per_session=_int(env, "STREAMS_PER_SESSION", 4, minimum=1),
            stream_heartbeat_seconds=_int(env, "STREAM_HEARTBEAT_SECONDS", 20, minimum=1),
            messages_per_minute=_int(env, "MESSAGES_PER_MINUTE", 10, minimum=1),
            media_dir=Path(env["MEDIA_DIR"]) if env.get("MEDIA_DIR") else ROOT / "var" / "media",
            test_pause=env.get("STOREFRONT_TEST_PAUSE", ""),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.production and self.debug:
            raise SettingsError("DEBUG must be off when APP_ENV=production")
        if self.production and not self.cookie_secure:
            raise SettingsError("COOKIE_SECURE must be on when APP_ENV=production (the shop needs HTTPS)")
        if self.production and len(self.secret_key) < MIN_SECRET_KEY:
            raise SettingsError(
                f"SECRET_KEY must be set to at least {MIN_SECRET_KEY} random characters when APP_ENV=production"
                ' (python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        if self.production and self.test_pause:
            raise SettingsError("STOREFRONT_TEST_PAUSE is for tests only: unset it when APP_ENV=production")
        if self.test_pause and ":" not in self.test_pause:
            raise SettingsError("STOREFRONT_TEST_PAUSE must be <point>:<flag file>, e.g. placement:/tmp/paused")
        if self.session_absolute_seconds < self.session_idle_seconds:
            raise SettingsError("SESSION_ABSOLUTE_SECONDS must not be shorter than SESSION_IDLE_SECONDS")
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise SettingsError("SMTP_URL must be smtp://[user:password@]host[:port][?starttls=1] or smtps://...")
        if self.events_url and not self.events_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("EVENTS_URL must be empty (events within one worker) or a redis:// URL")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise SettingsError(f"SHOP_CURRENCY must be a three-letter code, got {self.currency!r}")


def _redis_or_empty(url: str) -> str:
    """Events go through the sessions' Redis when there is one, unless EVENTS_URL says otherwise."""
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def signing_key(settings: Settings) -> bytes:
    """SECRET_KEY, or in development the key in var/secret-key, made once and shared by every worker."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = ROOT / "var" / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"secret-key.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # the first worker's key wins; the others read it
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()
