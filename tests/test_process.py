"""The real process: `python -m bot` and the `scopelock` script, started as a user would.

These tests start subprocesses (a second or two each) and are marked `slow`; CI runs them.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.service_process import (
    LOG_LINE,
    ServiceProcess,
    clean_env,
    free_port,
    run_once,
    venv_bin,
)

pytestmark = pytest.mark.slow


def command(launcher: str) -> list[str]:
    if launcher == "python -m bot":
        return [sys.executable, "-m", "bot"]
    return [str(venv_bin("scopelock"))]


@pytest.mark.parametrize(
    ("launcher", "signum"),
    [("python -m bot", signal.SIGTERM), ("scopelock", signal.SIGINT)],
)
def test_with_no_environment_it_serves_on_sqlite_and_stops_cleanly(
    tmp_path: Path, launcher: str, signum: signal.Signals
) -> None:
    port = free_port()
    with ServiceProcess(
        command(launcher), cwd=tmp_path, env=clean_env(PORT=str(port)), port=port
    ) as service:
        health = service.wait_healthy()
        workers_seen = wait_for_workers(service, 1)
        status, created = service.request("POST", "/api/event/log", EVENT)
        draft_status, draft = service.request("POST", "/api/draft/create", DRAFT)
        exit_code = service.stop(signum)

    assert health == {
        "status": "ok",
        "database": "ok",
        "telegram": "disabled",
        "workers": health["workers"],  # 0 until its session runner has started, then 1
        "sessions_queued": 0,
    }
    # The one process runs citizen sessions itself (SESSIONS_IN_PROCESS defaults to true).
    assert workers_seen == 1
    assert status == 201, created
    assert (draft_status, draft["status"], draft["telegram_sent"]) == (201, "pending", False)
    assert exit_code == 0, service.stderr
    with sqlite3.connect(tmp_path / "scopelock.db") as db:
        events = {event for (event,) in db.execute("SELECT event FROM events")}
    assert events == {EVENT["event"], "draft.created@1.0"}
    lines = service.log_lines
    assert len([line for line in lines if "Telegram is off" in line]) == 1, lines
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert "stopped" in lines[-1]


EVENT = {"event": "process.test@1.0", "payload": {"ok": True}}


def test_a_dotenv_in_the_working_directory_configures_it(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(
        f"PORT={port}\nAPI_TOKEN=dotenv-token-6e2d\nDATABASE_URL=sqlite:///./from-dotenv.db\n",
        encoding="utf-8",
    )
    with ServiceProcess(command("scopelock"), cwd=tmp_path, env=clean_env(), port=port) as service:
        service.wait_healthy()
        refused, _ = service.request("GET", "/api/drafts")
        allowed, _ = service.request(
            "GET", "/api/drafts", headers={"Authorization": "Bearer dotenv-token-6e2d"}
        )
        assert service.stop() == 0

    assert (refused, allowed) == (401, 200)
    assert (tmp_path / "from-dotenv.db").exists()
    assert not (tmp_path / "scopelock.db").exists()


@pytest.mark.parametrize(
    ("launcher", "name", "value"),
    [
        ("scopelock", "PORT", "abc"),
        ("python -m bot", "TELEGRAM_MODE", "carrier-pigeon"),
        ("scopelock", "DATABASE_URL", "mysql://root:hunter2-db@localhost/scopelock"),
        ("python -m bot", "CITIZEN_TIMEOUT_S", "-5"),
    ],
)
def test_bad_settings_stop_it_with_one_line_naming_the_variable(
    tmp_path: Path, launcher: str, name: str, value: str
) -> None:
    result = run_once(command(launcher), cwd=tmp_path, env=clean_env(**{name: value}))

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "invalid configuration" in lines[0]
    assert "hunter2-db" not in result.stderr
    assert not (tmp_path / "scopelock.db").exists()


def test_a_port_in_use_is_one_critical_line_and_exit_code_1(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(PORT=str(port))
    with ServiceProcess(command("scopelock"), cwd=tmp_path, env=env, port=port) as first:
        first.wait_healthy()
        second = run_once(command("python -m bot"), cwd=tmp_path, env=env)
        assert first.stop() == 0

    assert second.returncode == 1
    lines = second.stderr.splitlines()
    assert all(LOG_LINE.match(line) for line in lines), second.stderr
    assert " CRITICAL " in lines[-1] and "address already in use" in lines[-1]
    assert "Traceback" not in second.stderr


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "API_TOKEN, WEBHOOK_SECRET and TELEGRAM_BOT_TOKEN"),
        ({"API_TOKEN": "tok-1", "TELEGRAM_BOT_TOKEN": "1:bot-3"}, "WEBHOOK_SECRET"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    env = clean_env(ENVIRONMENT="production", PORT=str(free_port()), **given)
    result = run_once([str(venv_bin("scopelock")), "run"], cwd=tmp_path, env=env)

    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{missing} must be set when ENVIRONMENT=production" in result.stderr
    for secret in given.values():
        assert secret not in result.stderr


async def test_logs_never_contain_a_secret(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, fake_telegram: Any
) -> None:
    """Every secret set, DEBUG logging, a bot against the fake Bot API, requests that fail."""
    secrets = {
        "API_TOKEN": "api-token-secret-1f0e",
        "WEBHOOK_SECRET": "webhook-secret-2b7c",
        "TELEGRAM_BOT_TOKEN": "424242:telegram-bot-token-secret-3d9a",
        "TELEGRAM_WEBHOOK_SECRET": "tg-webhook-secret-4e1b",
    }
    database_url = f"sqlite:///{tmp_path / 'secrets.db'}"
    if backend == "postgresql":
        databases = request.getfixturevalue("postgres_databases")
        # Trust authentication ignores the password, but the URL still carries it.
        plain = databases.new_database()
        request.addfinalizer(lambda: databases.drop(plain))
        database_url = plain.replace("postgresql://postgres@", "postgres://postgres:db-pw-5c3d@")
        secrets["DB_PASSWORD"] = "db-pw-5c3d"
    port = free_port()
    env = clean_env(
        PORT=str(port),
        DATABASE_URL=database_url,
        LOG_LEVEL="DEBUG",
        TELEGRAM_CHAT_ID="1001",
        TELEGRAM_API_BASE_URL=fake_telegram.base_url,
        **{name: value for name, value in secrets.items() if name != "DB_PASSWORD"},
    )
    fake_telegram.fail_next("sendMessage", status=500, times=2)
    auth = {"Authorization": f"Bearer {secrets['API_TOKEN']}"}
    with ServiceProcess(command("scopelock"), cwd=tmp_path, env=env, port=port) as service:
        await asyncio.to_thread(service.wait_healthy)
        answers = [
            await asyncio.to_thread(service.request, "POST", "/api/draft/create", DRAFT, auth),
            await asyncio.to_thread(
                service.request, "GET", "/api/drafts", None, {"Authorization": "Bearer wrong"}
            ),
            await asyncio.to_thread(
                service.request, "GET", f"/api/events?cursor={secrets['API_TOKEN']}", None, auth
            ),
        ]
        await asyncio.sleep(1)  # let the notifier retry and log what it does
        exit_code = await asyncio.to_thread(service.stop)

    assert [status for status, _ in answers] == [201, 401, 400]
    assert exit_code == 0, service.stderr
    log = service.stderr
    assert log.strip(), "the service logged nothing"
    for name, value in secrets.items():
        assert value not in log, f"{name} appears in the log"
    assert all(LOG_LINE.match(line) for line in service.log_lines), log


DRAFT = {
    "client": "Acme",
    "job_title": "Chat widget",
    "message": "Can you start Monday?",
    "draft_text": "Yes, Monday works.",
    "confidence": 80,
}


async def test_sigterm_lets_an_in_flight_request_finish(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A request is blocked on a table lock when SIGTERM comes; released, it still lands.

    PostgreSQL shows the waiting INSERT in pg_stat_activity, so the test knows the request is
    in flight without guessing at timings.
    """
    databases = request.getfixturevalue("postgres_databases")
    url = databases.new_database()
    request.addfinalizer(lambda: databases.drop(url))
    port = free_port()
    env = clean_env(PORT=str(port), DATABASE_URL=url)
    with ServiceProcess(command("scopelock"), cwd=tmp_path, env=env, port=port) as service:
        await asyncio.to_thread(service.wait_healthy)
        locker = await asyncpg.connect(url)
        try:
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            posted = asyncio.create_task(
                asyncio.to_thread(service.request, "POST", "/api/event/log", EVENT)
            )
            await _until_an_insert_waits_on_a_lock(url)
            assert service.proc is not None
            service.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(_wait_until_refused, port)  # shutting down now
            await lock.commit()
            status, body = await posted
            exit_code = await asyncio.to_thread(service.proc.wait, 15)
            stored = await locker.fetch("SELECT event FROM events")
        finally:
            await locker.close()

    assert (status, set(body)) == (201, {"event_id", "timestamp"}), body
    assert exit_code == 0, service.stderr
    assert [row["event"] for row in stored] == [EVENT["event"]]


async def _until_an_insert_waits_on_a_lock(url: str) -> None:
    # Its own connection: inside a transaction, pg_stat_activity is a snapshot that never moves.
    watcher = await asyncpg.connect(url)
    try:
        for _ in range(300):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO events%'"
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await watcher.close()
    pytest.fail("the request never reached the database")


def _wait_until_refused(port: int) -> None:
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.1)
    pytest.fail("the service still accepts connections after SIGTERM")


def wait_for_workers(service: ServiceProcess, count: int) -> int:
    """/health's `workers` once it reaches `count` (the runner starts after the API)."""
    deadline = time.monotonic() + 15
    while True:
        _, body = service.request("GET", "/health")
        if body["workers"] == count or time.monotonic() > deadline:
            return int(body["workers"])
        time.sleep(0.05)
