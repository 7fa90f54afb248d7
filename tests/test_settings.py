"""Settings: defaults, `.env`, URL rewriting, and one clear line for every bad value.

`clean_environment` (conftest) starts each test with none of the service's variables set and
in an empty working directory, so `.env` is whatever the test writes.
"""

from __future__ import annotations

import base64
from datetime import time
from pathlib import Path

import pytest

from bot.settings import PRODUCTION_SECRETS, Settings, SettingsError, load_settings

SECRETS = {
    "API_TOKEN": "api-token-7c1e0d",
    "WEBHOOK_SECRET": "webhook-secret-93ab41",
    "TELEGRAM_BOT_TOKEN": "123456:bot-token-f00d2b",
    "TELEGRAM_WEBHOOK_SECRET": "tg-webhook-secret-5e77aa",
}
PRODUCTION_ENV = {**SECRETS, "TELEGRAM_CHAT_ID": "-1001234567890", "ENVIRONMENT": "production"}


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def settings_error(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> str:
    set_env(monkeypatch, values)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return str(raised.value)


def test_defaults_with_no_environment() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:///./scopelock.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.api_token is None and settings.webhook_secret is None
    assert settings.telegram_bot_token is None and not settings.telegram_enabled
    assert settings.telegram_chat_id is None
    assert settings.telegram_allowed_user_ids == frozenset()
    assert settings.telegram_api_base_url == "https://api.telegram.org"
    assert settings.telegram_mode == "polling"
    assert settings.telegram_webhook_secret is None and settings.public_webhook_url is None
    assert settings.claude_bin == "claude"
    assert settings.citizens_dir == Path("citizens")
    assert settings.citizen_timeout_s == 900
    assert settings.api_url_for_citizens == "http://127.0.0.1:8000"
    assert (settings.environment, settings.log_level) == ("development", "INFO")
    assert settings.secret_values() == []


# Every default CONTRACT §2 names, variable by variable, as the settings expose it.
CONTRACT_DEFAULTS: dict[str, tuple[str, object]] = {
    "DATABASE_URL": ("database_url", "sqlite+aiosqlite:///./scopelock.db"),
    "HOST": ("host", "127.0.0.1"),
    "PORT": ("port", 8000),
    "API_TOKEN": ("api_token", None),
    "WEBHOOK_SECRET": ("webhook_secret", None),
    "TELEGRAM_BOT_TOKEN": ("telegram_bot_token", None),
    "TELEGRAM_CHAT_ID": ("telegram_chat_id", None),
    "TELEGRAM_ALLOWED_USER_IDS": ("telegram_allowed_user_ids", frozenset()),
    "TELEGRAM_API_BASE_URL": ("telegram_api_base_url", "https://api.telegram.org"),
    "TELEGRAM_MODE": ("telegram_mode", "polling"),
    "TELEGRAM_WEBHOOK_URL": ("public_webhook_url", None),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram_webhook_secret", None),
    "CLAUDE_BIN": ("claude_bin", "claude"),
    "CITIZENS_DIR": ("citizens_dir", Path("citizens")),
    "CITIZEN_TIMEOUT_S": ("citizen_timeout_s", 900),
    "BACKEND_API_URL": ("api_url_for_citizens", "http://127.0.0.1:8000"),
    "CITIZEN_MAX_BUDGET_USD": ("citizen_max_budget_usd", 2),
    "CITIZENS_DAILY_BUDGET_USD": ("citizens_daily_budget_usd", None),
    "ANTHROPIC_API_KEY": ("anthropic_api_key", None),
    "CLAUDE_CODE_OAUTH_TOKEN": ("claude_code_oauth_token", None),
    "PUBLIC_URL": ("public_base_url", None),
    "TIMEZONE": ("timezone", "UTC"),
    "REMIND_AFTER_S": ("remind_after_s", 3600),
    "DIGEST_AT": ("digest_time", None),
    "QUIET_HOURS": ("quiet_window", None),
    "LOW_CONFIDENCE": ("low_confidence", 50),
    "DELIVERY_WEBHOOK_URL": ("delivery_webhook_url", None),
    "DELIVERY_WEBHOOK_SECRET": ("delivery_webhook_secret", None),
    "SESSIONS_IN_PROCESS": ("sessions_in_process", True),
    "WORKER_CONCURRENCY": ("worker_concurrency", 2),
    "SESSION_LEASE_S": ("session_lease_s", 60),
    "WORKER_DRAIN_S": ("worker_drain_s", 300),
    "STEP_TIMEOUT_S": ("step_timeout_s", 900),
    "ENVIRONMENT": ("environment", "development"),
    "LOG_LEVEL": ("log_level", "INFO"),
}


def test_every_default_of_the_contract() -> None:
    settings = load_settings()

    found = {name: getattr(settings, field) for name, (field, _) in CONTRACT_DEFAULTS.items()}
    assert found == {name: default for name, (_, default) in CONTRACT_DEFAULTS.items()}
    # Each variable the contract names is one the settings read (none pinned by accident).
    fields = {name.upper() for name in Settings.model_fields}
    assert set(CONTRACT_DEFAULTS) <= fields


def test_render_external_url_is_the_default_public_and_webhook_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RENDER_EXTERNAL_URL", "https://scopelock.onrender.com/")
    settings = load_settings()

    assert settings.public_base_url == "https://scopelock.onrender.com"
    assert settings.mini_app_url == "https://scopelock.onrender.com/app"
    assert settings.public_webhook_url == "https://scopelock.onrender.com/webhook/telegram"
    monkeypatch.setenv("PUBLIC_URL", "https://scopelock.example.com")
    assert load_settings().public_base_url == "https://scopelock.example.com"


def test_dotenv_in_the_working_directory_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "PORT=9123\nAPI_TOKEN=from-dotenv\nLOG_LEVEL=debug\nTELEGRAM_CHAT_ID=42\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "43")

    settings = load_settings()

    assert settings.port == 9123
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "from-dotenv"
    assert settings.log_level == "DEBUG"
    assert settings.telegram_chat_id == 43


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db.internal:5432/scopelock", "postgresql+asyncpg://u:pw@db.internal:5432/scopelock"),
        ("postgresql://u:pw@db.internal/scopelock", "postgresql+asyncpg://u:pw@db.internal/scopelock"),
        ("postgresql+asyncpg://u@localhost/s", "postgresql+asyncpg://u@localhost/s"),
        ("sqlite:///./other.db", "sqlite+aiosqlite:///./other.db"),
        ("sqlite+aiosqlite:////var/data/x.db", "sqlite+aiosqlite:////var/data/x.db"),
        ("postgres://u:p%40ss@h/d?sslmode=require", "postgresql+asyncpg://u:p%40ss@h/d?ssl=require"),
    ],
)  # fmt: skip
def test_database_urls_run_on_the_async_drivers(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [("111", {111}), ("1, 22 ,333", {1, 22, 333}), ("5,,6,", {5, 6}), ("-100200", {-100200})],
)
def test_allowed_user_ids_are_comma_separated_integers(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: set[int]
) -> None:
    monkeypatch.setenv("TELEGRAM_ALLOWED_USER_IDS", given)
    assert load_settings().telegram_allowed_user_ids == expected


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, {"TELEGRAM_CHAT_ID": "", "API_TOKEN": "", "PORT": ""})
    settings = load_settings()
    assert (settings.telegram_chat_id, settings.api_token, settings.port) == (None, None, 8000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("TELEGRAM_MODE", "carrier-pigeon"),
        ("DATABASE_URL", "mysql://root@localhost/scopelock"),
        ("DATABASE_URL", "not a url"),
        ("TELEGRAM_ALLOWED_USER_IDS", "12,alice"),
        ("TELEGRAM_CHAT_ID", "the-operator"),
        ("LOG_LEVEL", "loud"),
        ("ENVIRONMENT", "staging"),
        ("CITIZEN_TIMEOUT_S", "0"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces+slashes/"),
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("DIGEST_AT", "8am"),
        ("DIGEST_AT", "24:00"),
        ("QUIET_HOURS", "22:00"),
        ("QUIET_HOURS", "22:00-7"),
        ("REMIND_AFTER_S", "-1"),
        ("LOW_CONFIDENCE", "150"),
        ("CITIZEN_MAX_BUDGET_USD", "0"),
        ("CITIZENS_DAILY_BUDGET_USD", "lots"),
        ("PUBLIC_URL", "scopelock.example.com"),
        ("DELIVERY_WEBHOOK_URL", "ftp://example.com/hook"),
        ("DELIVERY_WEBHOOK_SECRET", "not-whsec"),
        ("DELIVERY_WEBHOOK_SECRET", "whsec_!!!"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    message = settings_error(monkeypatch, {name: value})

    assert "\n" not in message
    assert message.startswith(f"invalid configuration: {name}: ")


@pytest.mark.parametrize("missing", PRODUCTION_SECRETS)
def test_production_refuses_to_start_without_each_secret(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}
    message = settings_error(monkeypatch, env)

    assert missing in message and "ENVIRONMENT=production" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (
            ("API_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN"),
            "API_TOKEN, WEBHOOK_SECRET and TELEGRAM_BOT_TOKEN",
        ),
        (("WEBHOOK_SECRET", "API_TOKEN"), "API_TOKEN and WEBHOOK_SECRET"),
    ],
)
def test_production_names_every_missing_variable_in_one_error(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...], named: str
) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name not in missing}
    message = settings_error(monkeypatch, env)

    assert message == f"invalid configuration: {named} must be set when ENVIRONMENT=production"


def test_production_starts_without_a_chat_id_for_pairing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, {**PRODUCTION_ENV, "TELEGRAM_CHAT_ID": ""})

    assert load_settings().telegram_chat_id is None


def test_one_round_names_bad_values_and_what_other_settings_require(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Render deploy with the blueprint's webhook mode, a delivery URL and a typo."""
    message = settings_error(
        monkeypatch,
        {
            "ENVIRONMENT": "production",
            "TELEGRAM_MODE": "webhook",
            "DELIVERY_WEBHOOK_URL": "https://hooks.example.com/reply",
            "PORT": "eighty",
        },
    )

    assert message == (
        "invalid configuration: PORT: Input should be a valid integer, unable to parse string "
        "as an integer; API_TOKEN, WEBHOOK_SECRET and TELEGRAM_BOT_TOKEN must be set when "
        "ENVIRONMENT=production; TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_MODE=webhook;"
        " TELEGRAM_WEBHOOK_URL (or RENDER_EXTERNAL_URL) must be set in webhook mode; "
        "DELIVERY_WEBHOOK_SECRET must be set when DELIVERY_WEBHOOK_URL is"
    )


def test_a_bad_secret_is_named_as_bad_not_also_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = settings_error(
        monkeypatch,
        {
            **SECRETS,
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": "has spaces",
            "DELIVERY_WEBHOOK_URL": "https://hooks.example.com/reply",
        },
    )

    assert message.startswith("invalid configuration: TELEGRAM_WEBHOOK_SECRET: must be 1-256")
    assert "TELEGRAM_WEBHOOK_SECRET must be set" not in message
    assert message.endswith(
        "; TELEGRAM_WEBHOOK_URL (or RENDER_EXTERNAL_URL) must be set in webhook mode; "
        "DELIVERY_WEBHOOK_SECRET must be set when DELIVERY_WEBHOOK_URL is"
    )


def test_every_bad_value_is_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, {"PORT": "abc", "TELEGRAM_MODE": "carrier-pigeon"})

    assert message.startswith("invalid configuration: ") and "\n" not in message
    assert "PORT: " in message and "TELEGRAM_MODE: " in message


def test_production_starts_with_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, PRODUCTION_ENV)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.telegram_chat_id == -1001234567890


def test_webhook_mode_needs_its_secret_then_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"TELEGRAM_BOT_TOKEN": SECRETS["TELEGRAM_BOT_TOKEN"], "TELEGRAM_MODE": "webhook"}

    assert "TELEGRAM_WEBHOOK_SECRET" in settings_error(monkeypatch, base)
    with_secret = {**base, "TELEGRAM_WEBHOOK_SECRET": SECRETS["TELEGRAM_WEBHOOK_SECRET"]}
    assert "TELEGRAM_WEBHOOK_URL" in settings_error(monkeypatch, with_secret)

    monkeypatch.setenv("RENDER_EXTERNAL_URL", "https://scopelock.onrender.com/")
    assert load_settings().public_webhook_url == (
        "https://scopelock.onrender.com/webhook/telegram"
    )
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.com/webhook/telegram")
    assert load_settings().public_webhook_url == "https://bot.example.com/webhook/telegram"


@pytest.mark.parametrize(
    "bad",
    [
        {"ENVIRONMENT": "production", "API_TOKEN": ""},
        {"PORT": "abc"},
        {"DATABASE_URL": "mysql://root:db-password-11aa@localhost/scopelock"},
        {"TELEGRAM_WEBHOOK_SECRET": "tg webhook secret with spaces"},
        {"TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": ""},
    ],
)
def test_secrets_never_appear_in_the_error_line(
    monkeypatch: pytest.MonkeyPatch, bad: dict[str, str]
) -> None:
    message = settings_error(monkeypatch, {**PRODUCTION_ENV, **bad})

    for secret in [*SECRETS.values(), "db-password-11aa", "tg webhook secret with spaces"]:
        assert secret not in message


def test_secret_values_cover_every_secret_and_the_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, {**SECRETS, "DATABASE_URL": "postgres://svc:p%40ss-w0rd@db/scopelock"})
    settings = load_settings()

    assert set(settings.secret_values()) == {*SECRETS.values(), "p@ss-w0rd", "p%40ss-w0rd"}
    assert SECRETS["API_TOKEN"] not in repr(settings)


def test_the_operators_day_and_citizen_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert (defaults.timezone, defaults.remind_after_s, defaults.low_confidence) == (
        "UTC",
        3600,
        50,
    )
    assert (defaults.citizen_max_budget_usd, defaults.citizens_daily_budget_usd) == (2, None)
    assert defaults.digest_time is None and defaults.quiet_window is None
    assert defaults.mini_app_url is None and defaults.delivery_key is None

    set_env(
        monkeypatch,
        {
            "TIMEZONE": "Europe/Paris",
            "DIGEST_AT": "08:30",
            "QUIET_HOURS": "22:00-07:15",
            "PUBLIC_URL": "https://scopelock.example.com/",
            "DELIVERY_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"key-bytes-123").decode(),
            "ANTHROPIC_API_KEY": "sk-ant-api-key-0001",
            "CITIZEN_MAX_BUDGET_USD": "",
        },
    )
    settings = load_settings()

    assert settings.tz.key == "Europe/Paris"
    assert settings.digest_time == time(8, 30)
    assert settings.quiet_window == (time(22, 0), time(7, 15))
    assert settings.mini_app_url == "https://scopelock.example.com/app"
    assert settings.delivery_key == b"key-bytes-123"
    assert settings.citizen_max_budget_usd is None  # empty: no cap
    assert "sk-ant-api-key-0001" in settings.secret_values()
    monkeypatch.setenv("PUBLIC_URL", "http://scopelock.example.com")
    assert load_settings().mini_app_url is None  # Telegram opens Mini Apps over https only


def test_backend_api_url_defaults_to_a_reachable_address(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, {"HOST": "0.0.0.0", "PORT": "10000"})  # noqa: S104
    assert load_settings().api_url_for_citizens == "http://127.0.0.1:10000"
    monkeypatch.setenv("BACKEND_API_URL", "https://scopelock.onrender.com/")
    assert load_settings().api_url_for_citizens == "https://scopelock.onrender.com"
