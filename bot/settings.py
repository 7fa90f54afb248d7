"""Configuration: one `Settings` object built at start-up from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PRODUCTION_SECRETS = ("API_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


class SettingsError(Exception):
    """A configuration problem, worded as the one line the operator sees."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
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
                return "postgresql+asyncpg://" + value.removeprefix(prefix)
        if value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            return value
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        raise ValueError("must be a postgresql:// or sqlite+aiosqlite:// URL")

    @field_validator("telegram_allowed_user_ids", mode="before")
    @classmethod
    def split_user_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
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
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


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
