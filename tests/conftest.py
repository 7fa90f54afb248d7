"""Shared fixtures: settings isolated from the machine, real databases, the web app under test.

Every test that takes `database_url` (directly or through `engine`, `api`, …) runs twice:
once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade_to_head
from tests.databases import PostgresDatabases, require_postgres
from tests.secret_guard import GuardHandler, SecretGuard, installed

API_TOKEN = "test-api-token-5f2a9c"
TELEGRAM_TOKEN = "123456789:test-telegram-token-4b1e"

# Fixtures of the citizen tests (fake claude, citizen folders, runners; the real CLI and its
# scripted model), delivery tests, and databases without the newest schema.
pytest_plugins = [
    "tests.citizens_support",
    "tests.delivery_support",
    "tests.real_cli_support",
    "tests.schema_support",
]

# Variables the service reads; tests start from none of them, whatever the machine has set.
# Every variable the service reads: one per field of Settings.
SERVICE_ENV = sorted({name.upper() for name in Settings.model_fields})


@pytest.fixture(scope="session", autouse=True)
def secret_guard() -> Iterator[GuardHandler]:
    """Watch logs, HTTP answers and child output for secrets all session (tests/secret_guard)."""
    guard = SecretGuard()
    guard.register("API_TOKEN", API_TOKEN)
    guard.register("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    with installed(guard) as handler:
        yield handler


@pytest.fixture(autouse=True)
def no_secret_leaks(secret_guard: GuardHandler, tmp_path: Path) -> Iterator[None]:
    """Fail the test if a secret appeared anywhere the guard watches while it ran."""
    root = logging.getLogger()
    level = root.level
    # INFO is the service's default level: what it logs there must be clean, raw.
    root.setLevel(min(level, logging.INFO) or logging.INFO)
    if secret_guard not in root.handlers:  # configure_logging() replaces the root's handlers
        root.addHandler(secret_guard)
    yield
    root.setLevel(level)
    secret_guard.guard.scan_files(tmp_path, "*.stderr")
    leaks = secret_guard.guard.take_findings()
    if leaks:
        pytest.fail("a secret leaked: " + "; ".join(sorted(set(leaks))), pytrace=False)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    # Settings also read `.env` from the working directory: give each test an empty one.
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    require_postgres()
    databases = PostgresDatabases()
    databases.create_template()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scopelock.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.new_database()
    yield url
    databases.drop(url)


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings as the service would build them, with test overrides and no `.env`."""

    def make(**overrides: Any) -> Settings:
        citizens_dir = overrides.pop("citizens_dir", tmp_path / "citizens")
        return settings_for(database_url, citizens_dir, **overrides)

    return make


def settings_for(database_url: str, citizens_dir: Path, **overrides: Any) -> Settings:
    """Settings with the test API token, `environment="test"` and no `.env`."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "api_token": API_TOKEN,
        "citizens_dir": citizens_dir,
        "environment": "test",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def db(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, engine: AsyncEngine) -> TestClient:
    """The web application on a test server, sending the bearer token on every request."""
    from web.app import create_app

    client: TestClient = await aiohttp_client(create_app(settings, engine))
    client.session.headers["Authorization"] = f"Bearer {API_TOKEN}"
    return client


@pytest.fixture
async def fake_telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A fake Bot API server on loopback (see tests/fake_telegram.py)."""
    from tests.fake_telegram import FakeTelegram

    # Opt in to PTB's timedelta periods: otherwise building a RetryAfter warns, and warnings
    # are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def telegram_settings(make_settings: Callable[..., Settings], fake_telegram: Any) -> Any:
    """Like `make_settings`, with the bot switched on against the fake Telegram.

    The operator's private chat (tests.telegram_updates.OPERATOR_ID) is TELEGRAM_CHAT_ID.
    """
    from tests.telegram_updates import OPERATOR_ID

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TELEGRAM_TOKEN,
            "telegram_chat_id": OPERATOR_ID,
            "telegram_api_base_url": fake_telegram.base_url,
        }
        values.update(overrides)
        return make_settings(**values)

    return make


def pytest_report_header() -> list[str]:
    return [f"postgres: {os.environ.get('SCOPELOCK_TEST_POSTGRES_URL', 'default URL')}"]
