"""`scopelock doctor` (CONTRACT §15): one line per check with its fix, `--json`, the exit code;
it changes nothing and never prints a secret. Telegram is the fake Bot API; the database real.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.doctor import local, run_checks
from bot.doctor.checks import Check
from bot.settings import Settings, load_settings
from citizens.cli_version import pinned_version
from storage.engine import create_engine, session_factory
from storage.migrate import schema_revisions, upgrade_to
from storage.repo import operator_pairing
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.schema_support import head_revision, revision_before
from tests.service_process import venv_bin
from tests.telegram_updates import OPERATOR_ID, message_update

NAMES = [
    "settings",
    "database",
    "bot token",
    "operator chat",
    "webhook",
    "public url",
    "webhook secret",
    "citizens",
    "claude cli",
    "citizens' credentials",
]
WEBHOOK_URL = "https://scopelock.example.com/webhook/telegram"
SECRETS = {
    "WEBHOOK_SECRET": "doctor-webhook-secret-5f1d2c9a8b",
    "TELEGRAM_WEBHOOK_SECRET": "doctor-tg-secret-77ab",
    "ANTHROPIC_API_KEY": "sk-ant-doctor-key-0042",
    "API_TOKEN": "doctor-api-token-19ce",
}
READ_ONLY = {"getMe", "getChat", "getWebhookInfo"}

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
def healthy(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, citizens_home: Path
) -> Callable[..., Settings]:
    """A webhook deployment where everything is right: the operator has started the bot and
    the service has set its webhook."""
    fake_telegram.token = TELEGRAM_TOKEN
    fake_telegram.inject_update(message_update("/start"))
    fake_telegram.webhook_url = WEBHOOK_URL

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TELEGRAM_TOKEN,
            "telegram_chat_id": OPERATOR_ID,
            "telegram_api_base_url": fake_telegram.base_url,
            "telegram_mode": "webhook",
            "telegram_webhook_url": WEBHOOK_URL,
            "public_url": "https://scopelock.example.com",
            "citizens_dir": citizens_home,
            **{name.lower(): value for name, value in SECRETS.items()},
        }
        return make_settings(**(values | overrides))

    return make


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [check.name for check in checks] == NAMES
    return {check.name: check for check in checks}


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes these settings (as a deployment would have it)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
    }
    for name, value in settings.model_dump(exclude_none=True).items():
        if name in settings.model_fields_set or name == "database_url":
            secret = getattr(value, "get_secret_value", None)
            env[name.upper()] = str(secret() if secret else value)
    return env


async def doctor(
    settings: Settings, *args: str, changes: dict[str, str | None] | None = None
) -> tuple[int, str, str]:
    """`scopelock doctor` as a process, while the fake Bot API answers in this loop;
    `changes` set (None: remove) variables of the settings' environment."""
    env = env_of(settings)
    for name, value in (changes or {}).items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    process = await asyncio.create_subprocess_exec(
        str(venv_bin("scopelock")),
        "doctor",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_a_healthy_deployment_passes_every_check_and_changes_nothing(
    healthy: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = healthy()
    code, out, err = await doctor(settings, "--json")

    assert code == 0, out + err
    checks = json.loads(out)["checks"]
    assert [c["name"] for c in checks] == NAMES
    assert [c["status"] for c in checks] == ["ok"] * len(NAMES), out
    found = {c["name"]: c["detail"] for c in checks}
    assert "@" in found["bot token"] and f"{pinned_version()}" in found["claude cli"]
    assert "ANTHROPIC_API_KEY" in found["citizens' credentials"]

    code, text, err = await doctor(settings)
    assert code == 0
    lines = text.splitlines()
    assert [re.match(r"^(ok|warn|FAIL) +([^:]+): \S", line)[2] for line in lines] == NAMES  # type: ignore[index]

    for secret in [*SECRETS.values(), TELEGRAM_TOKEN]:
        assert secret not in out + text + err
    assert {call.method for call in fake_telegram.calls} <= READ_ONLY
    assert fake_telegram.webhook_url == WEBHOOK_URL


async def test_a_bad_token_fails_with_where_to_get_one(
    healthy: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    fake_telegram.token = "999:another-bot"
    found = by_name(await run_checks(healthy()))["bot token"]

    assert found.status == "FAIL" and "Unauthorized" in found.detail
    assert "@BotFather" in found.detail and TELEGRAM_TOKEN not in found.detail


async def test_a_chat_the_bot_cannot_reach_fails_with_what_to_do(
    healthy: Callable[..., Settings],
) -> None:
    found = by_name(await run_checks(healthy(telegram_chat_id=4242)))["operator chat"]

    assert found.status == "FAIL"
    assert "cannot reach chat 4242" in found.detail and "chat not found" in found.detail
    assert "Start" in found.detail and "TELEGRAM_CHAT_ID" in found.detail


async def test_a_webhook_set_to_another_url_fails(
    healthy: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    fake_telegram.webhook_url = "https://old-deploy.example.com/webhook/telegram"
    found = by_name(await run_checks(healthy()))["webhook"]

    assert found.status == "FAIL"
    assert "old-deploy.example.com" in found.detail and WEBHOOK_URL in found.detail
    assert "another deployment" in found.detail

    fake_telegram.webhook_url = None
    found = by_name(await run_checks(healthy()))["webhook"]
    assert found.status == "FAIL" and "no webhook is set" in found.detail


async def test_a_webhook_refusing_telegrams_secret_fails(
    healthy: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """Telegram's last delivery got a 401: the secret it sends is not the service's."""
    fake_telegram.webhook_deliveries.append((1, 401))
    found = by_name(await run_checks(healthy()))["webhook"]

    assert found.status == "FAIL"
    assert "401 Unauthorized" in found.detail and "TELEGRAM_WEBHOOK_SECRET" in found.detail


async def test_without_a_chat_id_it_reports_pairing_then_the_paired_chat(
    healthy: Callable[..., Settings], engine: Any
) -> None:
    settings = healthy(telegram_chat_id=None)
    found = by_name(await run_checks(settings))["operator chat"]
    assert found.status == "warn" and "pairing" in found.detail and "/start" in found.detail

    async with session_factory(engine)() as session, session.begin():
        await operator_pairing.pair(session=session, chat_id=OPERATOR_ID, user_id=OPERATOR_ID)
    found = by_name(await run_checks(settings))["operator chat"]
    assert found.status == "ok" and "the pairing" in found.detail


@pytest.mark.slow
async def test_a_database_that_is_down_fails_and_the_exit_code_says_so(
    healthy: Callable[..., Settings],
) -> None:
    down = "postgresql+asyncpg://scopelock:db-pass-9e1c@127.0.0.1:1/scopelock"
    settings = healthy().model_copy(update={"database_url": down})
    code, out, err = await doctor(settings, "--json")

    assert code == 1, out + err
    found = {c["name"]: c for c in json.loads(out)["checks"]}
    assert found["database"]["status"] == "FAIL"
    assert "cannot reach" in found["database"]["detail"]
    assert "DATABASE_URL" in found["database"]["detail"]
    assert "db-pass-9e1c" not in out + err
    assert found["operator chat"]["status"] == "ok"  # TELEGRAM_CHAT_ID needs no database


async def test_a_missing_sqlite_file_is_not_created(
    healthy: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = tmp_path / "elsewhere" / "scopelock.db"
    (tmp_path / "elsewhere").mkdir()
    settings = healthy().model_copy(update={"database_url": f"sqlite+aiosqlite:///{missing}"})
    found = by_name(await run_checks(settings))["database"]

    assert found.status == "warn" and "creates it at start" in found.detail
    assert not missing.exists()


async def test_a_missing_or_wrong_version_cli_fails_with_the_install_command(
    healthy: Callable[..., Settings], tmp_path: Path
) -> None:
    install = f"npm install -g @anthropic-ai/claude-code@{pinned_version()}"
    found = by_name(await run_checks(healthy(claude_bin=str(tmp_path / "no-claude"))))
    assert found["claude cli"].status == "FAIL"
    assert "not found" in found["claude cli"].detail and install in found["claude cli"].detail

    old = tmp_path / "old-claude"
    old.write_text("#!/bin/sh\necho '1.0.3 (Claude Code)'\n")
    old.chmod(old.stat().st_mode | stat.S_IEXEC)
    found = by_name(await run_checks(healthy(claude_bin=str(old))))
    assert found["claude cli"].status == "FAIL"
    assert "is 1.0.3" in found["claude cli"].detail and install in found["claude cli"].detail


async def test_missing_credentials_and_an_http_public_url_are_warnings(
    healthy: Callable[..., Settings],
) -> None:
    settings = healthy(anthropic_api_key=None, public_url="http://scopelock.example.com")
    found = by_name(await run_checks(settings))

    assert found["citizens' credentials"].status == "warn"
    assert "CLAUDE_CODE_OAUTH_TOKEN" in found["citizens' credentials"].detail
    assert found["public url"].status == "warn" and "https" in found["public url"].detail

    # A service whose sessions run in workers needs no credentials itself.
    settings = healthy(anthropic_api_key=None, sessions_in_process=False)
    found = by_name(await run_checks(settings))
    assert found["citizens' credentials"].status == "ok"
    assert "scopelock worker" in found["citizens' credentials"].detail


@pytest.mark.slow
async def test_bad_settings_are_its_first_finding(healthy: Callable[..., Settings]) -> None:
    changes = {"ENVIRONMENT": "production", "API_TOKEN": None}
    code, out, _ = await doctor(healthy(), changes=changes)

    assert code == 1
    assert out.startswith("FAIL settings: invalid configuration: API_TOKEN must be set")


@pytest.fixture
def empty_url(empty_database: str) -> str:
    """An empty database the doctor can reach (SQLite's file exists, with nothing in it)."""
    url = load_settings(database_url=empty_database).database_url
    path = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and path:
        Path(path).touch()
    return url


async def revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return (await schema_revisions(engine))[0]
    finally:
        await engine.dispose()


async def test_an_empty_database_is_a_warning_and_no_pairing_is_read(
    healthy: Callable[..., Settings], empty_url: str
) -> None:
    settings = healthy(telegram_chat_id=None).model_copy(update={"database_url": empty_url})
    found = by_name(await run_checks(settings))

    assert found["database"].status == "warn"
    assert "reachable but empty" in found["database"].detail
    assert "`scopelock migrate`" in found["database"].detail
    assert found["operator chat"] == Check(
        "operator chat", "warn", "unknown: no database to read a pairing from"
    )
    assert await revision_of(empty_url) is None  # the doctor created no schema


async def test_an_old_schema_is_a_warning_and_still_read(
    healthy: Callable[..., Settings], empty_url: str
) -> None:
    head = head_revision()
    old = revision_before(head)
    engine = create_engine(empty_url)
    try:
        await upgrade_to(engine, old)
    finally:
        await engine.dispose()
    settings = healthy(telegram_chat_id=None).model_copy(update={"database_url": empty_url})
    found = by_name(await run_checks(settings))

    assert found["database"].status == "warn"
    assert f"schema at {old}, this version's is {head}" in found["database"].detail
    assert "the service migrates at start" in found["database"].detail
    # The pairing table is older than this schema: it is read, and nobody has paired yet.
    assert found["operator chat"].status == "warn"
    assert found["operator chat"].detail.startswith("pairing: no operator yet")
    assert await revision_of(empty_url) == old  # the doctor migrated nothing


@pytest.mark.slow
async def test_no_citizens_and_no_webhook_secret_are_printed_with_their_fix(
    healthy: Callable[..., Settings], tmp_path: Path
) -> None:
    nowhere = tmp_path / "no-citizens-here"
    nowhere.mkdir()
    (nowhere / "rafael").mkdir()  # a folder without its CLAUDE.md is no citizen
    changes = {"WEBHOOK_SECRET": None, "CITIZENS_DIR": str(nowhere)}
    code, out, err = await doctor(healthy(), changes=changes)

    assert code == 1, out + err  # no citizen is a failure; the secret only a warning
    lines = out.splitlines()
    assert (
        f"FAIL citizens: no citizen folder (a folder with a CLAUDE.md) in {nowhere}: "
        "fix CITIZENS_DIR"
    ) in lines
    assert (
        "warn webhook secret: WEBHOOK_SECRET is not set: /webhook/* answer 503, so Zapier "
        "cannot post; set a long random value"
    ) in lines
    assert [line.split()[0] for line in lines].count("FAIL") == 1

    code, out, _ = await doctor(healthy(), "--json", changes={"WEBHOOK_SECRET": "Zq9xW"})
    found = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 0
    assert found["webhook secret"] == {
        "name": "webhook secret",
        "status": "warn",
        "detail": "WEBHOOK_SECRET is set but short (5 characters): use 32 or more",
    }


async def test_a_cli_that_hangs_is_killed_when_its_time_is_up(
    healthy: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "claude.pid"
    hanging = tmp_path / "claude"
    hanging.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(local, "CLI_TIMEOUT_S", 0.5)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    found = await local.check_cli(healthy(claude_bin="claude"))

    assert found.status == "FAIL"
    assert f"{hanging} --version did not answer within 0.5 s" in found.detail
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists(), "the CLI was left running"
