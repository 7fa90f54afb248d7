"""The environment a citizen's CLI gets (CONTRACT §7 v3): filtered by what the service owns.

The CLI's own documented configuration passes unchanged, whatever words its names hold; the
service's secrets and endpoints, and any other name holding SECRET or PASSWORD, never do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from citizens.environment import citizen_environment
from tests.conftest import settings_for

# The CLI's configuration (LLM gateway, output limits, Bedrock, Vertex, proxies) and an
# ordinary environment.
MUST_PASS = [
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "MAX_THINKING_TOKENS",
    "DISABLE_AUTOUPDATER",
    "DISABLE_TELEMETRY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "CLOUD_ML_REGION",
    "VERTEX_REGION_CLAUDE_4_0_SONNET",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "NO_PROXY",
    "PATH",
    "LANG",
    "TZ",
]
# The service's own secrets and endpoints, every variable it reads, and any other SECRET or
# PASSWORD; also a stale session variable of the service's own environment.
MUST_NOT_PASS = [
    "API_TOKEN",
    "WEBHOOK_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "DATABASE_URL",
    "database_url",
    "DELIVERY_WEBHOOK_URL",
    "DELIVERY_WEBHOOK_SECRET",
    "TELEGRAM_CHAT_ID",
    "PUBLIC_URL",
    "CLAUDE_BIN",
    "PGPASSWORD",
    "SMTP_PASSWORD",
    "STRIPE_WEBHOOK_SECRET",
    "client_secret",
    "SCOPELOCK_THREAD_ID",
]


def environment(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    return citizen_environment(
        base, settings, session_id="s-1", session_token="slst_t", thread_id=None
    )


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return settings_for("sqlite+aiosqlite:///:memory:", tmp_path)


@pytest.mark.parametrize("name", MUST_PASS)
def test_the_clis_configuration_passes_unchanged(plain_settings: Settings, name: str) -> None:
    value = f"value-of-{name}"

    env = environment(plain_settings, {name: value})

    assert env[name] == value


@pytest.mark.parametrize("name", MUST_NOT_PASS)
def test_what_the_service_owns_stays_out(plain_settings: Settings, name: str) -> None:
    value = f"value-of-{name}"

    env = environment(plain_settings, {name: value})

    assert name not in env
    assert value not in env.values()


def test_the_session_gets_its_own_credentials_whatever_the_environment_held(
    tmp_path: Path,
) -> None:
    settings = settings_for(
        "sqlite+aiosqlite:///:memory:",
        tmp_path,
        anthropic_api_key=SecretStr("sk-ant-citizen"),
        backend_api_url="http://127.0.0.1:9000",
    )
    base = {"ANTHROPIC_API_KEY": "sk-ant-older", "SCOPELOCK_SESSION_TOKEN": "slst_stale"}

    env = citizen_environment(
        base, settings, session_id="s-2", session_token="slst_new", thread_id="t-9"
    )

    assert env["ANTHROPIC_API_KEY"] == "sk-ant-citizen"
    assert (env["SCOPELOCK_SESSION_ID"], env["SCOPELOCK_SESSION_TOKEN"]) == ("s-2", "slst_new")
    assert env["SCOPELOCK_THREAD_ID"] == "t-9"
    assert env["BACKEND_API_URL"] == "http://127.0.0.1:9000"
