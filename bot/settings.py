"""Configuration: one `Settings` object built at start-up from the environment and `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PRODUCTION_SECRETS = ("API_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
# What the Bot API accepts as a webhook `secret_token`.
TELEGRAM_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


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

    @field_validator("log_level", mode="before")
    @classmethod
    def upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "api_token",
        "webhook_secret",
        "telegram_bot_token",
        "telegram_webhook_secret",
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
    def check_production_and_webhook(self) -> Settings:
        if self.environment == "production":
            for name in PRODUCTION_SECRETS:
                if getattr(self, name.lower()) is None:
                    raise ValueError(f"{name} must be set when ENVIRONMENT=production")
        if self.telegram_enabled and self.telegram_mode == "webhook":
            if self.telegram_webhook_secret is None:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_MODE=webhook")
            if self.public_webhook_url is None:
                raise ValueError(
                    "TELEGRAM_WEBHOOK_URL (or RENDER_EXTERNAL_URL) must be set in webhook mode"
                )
        return self

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_webhook_url(self) -> str | None:
        if self.telegram_webhook_url:
            return self.telegram_webhook_url
        if self.render_external_url:
            return self.render_external_url.rstrip("/") + "/webhook/telegram"
        return None

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
        )
        values = [s.get_secret_value() for s in secrets if s is not None]
        password = make_url(self.database_url).password or ""
        # The URL spells the password percent-encoded, a driver error may spell it decoded.
        values += [password, quote(password, safe="")]
        return sorted({value for value in values if value}, key=len, reverse=True)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into one readable `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        where = f"{field}: " if field else ""
        # Never echo the input: it may be a secret.
        raise SettingsError(f"invalid configuration: {where}{message}") from None
