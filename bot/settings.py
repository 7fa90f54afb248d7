"""Configuration: one `Settings` object built at start-up from the environment and `.env`."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Without TELEGRAM_CHAT_ID the bot starts in pairing mode (CONTRACT §15), also in production.
PRODUCTION_SECRETS = ("API_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN")
# What the Bot API accepts as a webhook `secret_token`.
TELEGRAM_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
DELIVERY_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def _clock_time(value: str) -> time:
    match = CLOCK_TIME.match(value.strip())
    if match is None:
        raise ValueError("must be a time of day as HH:MM (00:00 to 23:59)")
    return time(int(match[1]), int(match[2]))


class SettingsError(Exception):
    """A configuration problem, worded as the one line the operator sees."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `TELEGRAM_CHAT_ID=` (as a dashboard leaves an unfilled variable) means unset.
        env_ignore_empty=True,
    )

    database_url: str = "sqlite+aiosqlite:///./scopelock.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: int | None = None
    telegram_allowed_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_pacing: bool = True
    """False: send without pacing to Telegram's flood limits (benchmarks against a fake API)."""
    render_external_url: str | None = None

    claude_bin: str = "claude"
    citizens_dir: Path = Path("./citizens")
    citizen_timeout_s: float = Field(default=900, gt=0)
    backend_api_url: str | None = None
    citizen_max_budget_usd: float | None = Field(default=2, gt=0)
    citizens_daily_budget_usd: float | None = Field(default=None, gt=0)
    anthropic_api_key: SecretStr | None = None
    claude_code_oauth_token: SecretStr | None = None
    sessions_in_process: bool = True
    """False: `scopelock run` only queues sessions; `scopelock worker` processes run them."""
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    session_lease_s: float = Field(default=60, ge=5)
    """A running session whose process has not renewed its lease for this long is lost."""
    worker_drain_s: float = Field(default=300, ge=0)

    public_url: str | None = None
    timezone: str = "UTC"
    remind_after_s: float = Field(default=3600, ge=0)
    step_timeout_s: float = Field(default=900, gt=0)
    """An Edit / Reject / Redraft / Answer step not answered within this ends quietly."""
    digest_at: str | None = None
    quiet_hours: str | None = None
    low_confidence: int = Field(default=50, ge=0, le=101)
    delivery_webhook_url: str | None = None
    delivery_webhook_secret: SecretStr | None = None
    retention_interval_s: float = Field(default=3600, gt=0)
    """How often expired outbox rows, idempotency keys and webhook deliveries are pruned."""

    environment: Literal["development", "production", "test"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def use_async_driver(cls, value: str) -> str:
        """Render hands out `postgres://…`; both PostgreSQL spellings run on asyncpg."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                value = "postgresql+asyncpg://" + value.removeprefix(prefix)
        if value.startswith("sqlite://"):
            value = "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be a postgresql://, postgres:// or sqlite+aiosqlite:// URL")
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a valid database URL") from None
        if "sslmode" in url.query:
            # libpq spells it sslmode (hosted PostgreSQL URLs carry it); asyncpg calls it ssl.
            sslmode = url.query["sslmode"]
            url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": sslmode})
            value = url.render_as_string(hide_password=False)
        return value

    @field_validator("telegram_allowed_user_ids", mode="before")
    @classmethod
    def split_user_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", "").split(",") if part]
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("must be Telegram user ids (integers) separated by commas")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name such as Europe/Paris") from None
        return value

    @field_validator("digest_at")
    @classmethod
    def check_digest_at(cls, value: str | None) -> str | None:
        if value is not None:
            _clock_time(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def check_quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            start, dash, end = value.partition("-")
            if not dash:
                raise ValueError("must be a window of the day as HH:MM-HH:MM")
            _clock_time(start)
            _clock_time(end)
        return value

    @field_validator("backend_api_url")
    @classmethod
    def backend_url_scheme(cls, value: str | None) -> str | None:
        """`host:port` (what Render gives a worker for its web service) means http://host:port."""
        if value is not None and "://" not in value:
            value = f"http://{value}"
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, or host:port")
        return value

    @field_validator("public_url", "delivery_webhook_url")
    @classmethod
    def http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("delivery_webhook_secret")
    @classmethod
    def standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            text = value.get_secret_value()
            try:
                key = base64.b64decode(text.removeprefix(DELIVERY_SECRET_PREFIX), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not text.startswith(DELIVERY_SECRET_PREFIX) or not key:
                raise ValueError("must be whsec_ followed by the base64 of the key")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "api_token",
        "webhook_secret",
        "telegram_bot_token",
        "telegram_webhook_secret",
        "anthropic_api_key",
        "claude_code_oauth_token",
        "delivery_webhook_secret",
        mode="before",
    )
    @classmethod
    def empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def telegram_accepts_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TELEGRAM_SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram)")
        return value

    @model_validator(mode="after")
    def check_required_together(self) -> Settings:
        # All of them in one error: each round costs the operator a redeploy.
        problems = self.missing_requirements()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def missing_requirements(self) -> list[str]:
        """Variables that other settings require and that are not set, one sentence each."""
        problems = []
        production = self.environment == "production"
        if production:
            missing = [name for name in PRODUCTION_SECRETS if getattr(self, name.lower()) is None]
            if missing:
                names = ", ".join(missing[:-1]) + " and " if len(missing) > 1 else ""
                problems.append(f"{names}{missing[-1]} must be set when ENVIRONMENT=production")
        # In production the token is required anyway: name what webhook mode needs now too.
        if self.telegram_mode == "webhook" and (self.telegram_enabled or production):
            if self.telegram_webhook_secret is None:
                problems.append("TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_MODE=webhook")
            if self.public_webhook_url is None:
                problems.append(
                    "TELEGRAM_WEBHOOK_URL (or RENDER_EXTERNAL_URL) must be set in webhook mode"
                )
        if self.delivery_webhook_url is not None and self.delivery_webhook_secret is None:
            problems.append("DELIVERY_WEBHOOK_SECRET must be set when DELIVERY_WEBHOOK_URL is")
        return problems

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """As pydantic shows the settings (repr and str), with the database password hidden."""
        for name, value in super().__repr_args__():
            if name == "database_url":
                value = make_url(value).render_as_string(hide_password=True)
            yield name, value

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def public_webhook_url(self) -> str | None:
        if self.telegram_webhook_url:
            return self.telegram_webhook_url
        if self.render_external_url:
            return self.render_external_url.rstrip("/") + "/webhook/telegram"
        return None

    @property
    def public_base_url(self) -> str | None:
        """The service's public root (`PUBLIC_URL`, else Render's external URL)."""
        url = self.public_url or self.render_external_url
        return url.rstrip("/") if url else None

    @property
    def mini_app_url(self) -> str | None:
        """Where the Mini App is offered from: only over https (Telegram requires it)."""
        url = self.public_base_url
        return f"{url}/app" if url and url.startswith("https://") else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def digest_time(self) -> time | None:
        return None if self.digest_at is None else _clock_time(self.digest_at)

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        """`QUIET_HOURS` as (start, end); a window may wrap past midnight (22:00-07:00)."""
        if self.quiet_hours is None:
            return None
        start, _, end = self.quiet_hours.partition("-")
        return _clock_time(start), _clock_time(end)

    @property
    def delivery_key(self) -> bytes | None:
        """The delivery webhook's HMAC key: the base64-decoded part of `whsec_…`."""
        if self.delivery_webhook_secret is None:
            return None
        text = self.delivery_webhook_secret.get_secret_value()
        return base64.b64decode(text.removeprefix(DELIVERY_SECRET_PREFIX))

    @property
    def api_url_for_citizens(self) -> str:
        if self.backend_api_url:
            return self.backend_api_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        secrets = (
            self.api_token,
            self.webhook_secret,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.anthropic_api_key,
            self.claude_code_oauth_token,
            self.delivery_webhook_secret,
        )
        values = [s.get_secret_value() for s in secrets if s is not None]
        if self.delivery_webhook_secret is not None:
            values.append(
                self.delivery_webhook_secret.get_secret_value().removeprefix(
                    DELIVERY_SECRET_PREFIX
                )
            )
        password = make_url(self.database_url).password or ""
        # The URL spells the password percent-encoded, a driver error may spell it decoded.
        values += [password, quote(password, safe="")]
        return sorted({value for value in values if value}, key=len, reverse=True)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into one readable `SettingsError`."""
    if os.environ.get("CITIZEN_MAX_BUDGET_USD", "unset").strip() == "":
        # An empty variable means unset everywhere else; here the contract gives it a meaning:
        # no cap at all (unset keeps the default cap).
        overrides.setdefault("citizen_max_budget_usd", None)
    try:
        # The overrides are field values by name; the checker cannot match `**object` to them.
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = _problems(exc)
    failed = {name for name in problems if name in Settings.model_fields}
    if failed:
        # The requirements between settings are checked only once every value is valid: ask
        # again with the bad values at their defaults, so one round names every fault.
        defaults = {name: Settings.model_fields[name].get_default() for name in failed}
        try:
            Settings(**{**overrides, **defaults})
        except ValidationError as exc:
            required = _problems(exc).get("", "").split("; ")
            # A bad value is named once, as bad, not also as missing.
            bad = tuple(f"{name.upper()} must be set" for name in failed)
            problems[""] = "; ".join(r for r in required if r and not r.startswith(bad))
    problems = {name: text for name, text in problems.items() if text}
    lines = [f"{name.upper()}: {text}" if name else text for name, text in problems.items()]
    # Every problem on one line (each costs a redeploy); never the input: it may be a secret.
    raise SettingsError("invalid configuration: " + "; ".join(lines))


def _problems(exc: ValidationError) -> dict[str, str]:
    """Each field's message by field name; the requirements between fields under ""."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems[field] = f"{problems[field]}; {message}" if field in problems else message
    return problems
