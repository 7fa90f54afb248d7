"""The session runner against real databases and the fake `claude`."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens.prompts import operator_task
from storage.engine import create_engine, session_factory
from storage.repo import citizen_queue
from tests.citizens_support import (
    FakeClaude,
    outbox_texts,
    process_alive,
    session_events,
    session_row,
    wait_finished,
    wait_status,
)
from tests.conftest import API_TOKEN
from tests.polling import wait_until

pytestmark = pytest.mark.usefixtures("citizens_home")

Db = async_sessionmaker[AsyncSession]


async def enqueue(db: Db, citizen: str, prompt: str, chat_id: int | None = None) -> str:
    async with db() as session, session.begin():
        row = await citizen_queue.enqueue(
            session=session,
            citizen=citizen,
            trigger="test",
            prompt=prompt,
            notify_chat_id=chat_id,
        )
    return row.id


@pytest.fixture
def runner_settings(make_settings: Callable[..., Settings], fake_claude: FakeClaude) -> Settings:
    return make_settings(claude_bin=str(fake_claude.bin), citizen_timeout_s=30)


async def test_session_runs_the_cli_as_an_argument_list_in_the_citizen_folder(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any, tmp_path: Path
) -> None:
    await start_runner(runner_settings, chat_id=4242)
    hostile = "--dangerously-skip-permissions $(touch pwned) `touch pwned2` \"' \n; rm -rf /"
    prompt = operator_task(message=hostile, source="test")
    session_id = await enqueue(db, "emma", prompt)

    row = await wait_finished(db, session_id)

    assert row.status == "completed" and row.exit_code == 0
    assert "fake claude done" in (row.output_tail or "")
    assert row.started_at is not None and row.finished_at is not None
    [call] = fake_claude.calls()
    argv = call["argv"]
    config = argv[argv.index("--mcp-config") + 1]
    new_id = argv[argv.index("--session-id") + 1]
    assert argv == [
        "--print",
        prompt,
        "--output-format",
        "json",
        "--session-id",
        new_id,
        "--mcp-config",
        config,
        "--strict-mcp-config",
        *argv[9:],
    ]
    assert str(uuid.UUID(new_id)) == new_id
    assert "--continue" not in argv and "--resume" not in argv
    assert row.claude_session_id == new_id  # what the JSON result reported
    assert not Path(config).exists()  # the session's MCP config went with it
    assert hostile in call["argv"][1]
    assert Path(call["cwd"]) == tmp_path / "citizens" / "emma"
    assert call["env"]["BACKEND_API_URL"] == runner_settings.api_url_for_citizens
    assert call["env"]["SCOPELOCK_SESSION_ID"] == session_id
    assert "API_TOKEN" not in call["env"]
    assert not any(tmp_path.rglob("pwned*"))
    assert [name for name, _ in await session_events(db, session_id)] == [
        "citizen.session.queued@1.0",
        "citizen.session.started@1.0",
        "citizen.session.completed@1.0",
    ]
    # One notice (queued, or running when the runner claimed it first), then its edits.
    sent = await outbox_texts(db)
    assert {chat for chat, _ in sent} == {4242}
    assert "queued" in sent[0][1] or "running" in sent[0][1]
    assert "running" in sent[-2][1] and "completed" in sent[-1][1]


async def test_secrets_of_the_service_are_not_handed_to_citizens(
    db: Db,
    runner_settings: Settings,
    fake_claude: FakeClaude,
    start_runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service_secrets = {
        "API_TOKEN": API_TOKEN,
        "WEBHOOK_SECRET": "do-not-leak-1",
        "TELEGRAM_BOT_TOKEN": "123:do-not-leak-2",
        "TELEGRAM_WEBHOOK_SECRET": "do-not-leak-3",
        "DATABASE_URL": "postgresql://u:do-not-leak-4@db/x",
        "DELIVERY_WEBHOOK_SECRET": "whsec_ZG8tbm90LWxlYWstNQ==",
        "DELIVERY_WEBHOOK_URL": "https://hooks.example/catch/do-not-leak-6",
        "pg_password": "do-not-leak-7",
        "SOME_NEW_SECRET": "do-not-leak-8",
    }
    for name, value in service_secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-the-environment-not-the-settings")
    monkeypatch.setenv("LANG", "C.UTF-8")
    settings = runner_settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-ant-citizen"),
            "claude_code_oauth_token": SecretStr("oauth-citizen"),
        }
    )
    await start_runner(settings)
    session_id = await enqueue(db, "rafael", "Hello")
    await wait_finished(db, session_id)

    [call] = fake_claude.calls()
    env = call["env"]
    assert not set(service_secrets) & set(env)
    leaked = [value for value in service_secrets.values() if value in json.dumps(env)]
    assert leaked == []
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-citizen"
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == "oauth-citizen"
    assert env["LANG"] == "C.UTF-8" and env["PATH"]  # an ordinary environment otherwise
    assert env["SCOPELOCK_SESSION_ID"] == session_id
    assert env["SCOPELOCK_SESSION_TOKEN"].startswith("slst_")
    assert "SCOPELOCK_THREAD_ID" not in env  # a session with no thread
    # No credential on the command line.
    argv_text = json.dumps(call["argv"])
    for secret in [*service_secrets.values(), "sk-ant-citizen", "oauth-citizen"]:
        assert secret not in argv_text
    assert env["SCOPELOCK_SESSION_TOKEN"] not in argv_text


async def test_one_citizen_runs_one_session_at_a_time_and_in_order(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    await start_runner(runner_settings)
    first = await enqueue(db, "rafael", f"first\nFAKE:wait-for={gate}")
    second = await enqueue(db, "rafael", "second\nFAKE:sleep=0.1")
    third = await enqueue(db, "rafael", "third")
    other = await enqueue(db, "emma", f"other\nFAKE:wait-for={gate}")

    # rafael's first and emma's session run side by side; rafael's others wait.
    await wait_status(db, first, "running")
    await wait_status(db, other, "running")
    await wait_until(lambda: len(fake_claude.calls()) == 2, "both CLIs to start")
    assert (await wait_status(db, second, "queued")).started_at is None
    gate.touch()

    for session_id in (first, second, third, other):
        assert (await wait_finished(db, session_id)).status == "completed"
    runs = _intervals(fake_claude, "rafael")
    assert [prompt.split("\n")[0] for prompt, _, _ in runs] == ["first", "second", "third"]
    for (_, _, end), (_, start, _) in itertools.pairwise(runs):
        assert end <= start


async def test_a_session_past_the_timeout_is_killed_with_its_process_group(
    db: Db,
    make_settings: Callable[..., Settings],
    fake_claude: FakeClaude,
    start_runner: Any,
) -> None:
    settings = make_settings(claude_bin=str(fake_claude.bin), citizen_timeout_s=1)
    await start_runner(settings, chat_id=7)
    session_id = await enqueue(db, "daniel", "build it\nFAKE:child\nFAKE:sleep=60")

    row = await wait_finished(db, session_id)

    assert row.status == "failed"
    assert "timed out after 1 s" in (row.error or "")
    [call] = fake_claude.calls()
    await wait_until(
        lambda: not process_alive(call["pid"]) and not process_alive(call["child_pid"]),
        "the session's processes to be gone",
    )
    events = await session_events(db, session_id)
    assert events[-1][0] == "citizen.session.failed@1.0"
    assert "timed out" in events[-1][1]["error"]
    report = (await outbox_texts(db))[-1][1]
    assert "failed" in report and "timed out" in report


async def test_a_failing_cli_records_its_exit_code_and_stderr(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings, chat_id=7)
    session_id = await enqueue(db, "rafael", "FAKE:stderr=boom <at> the end\nFAKE:exit=3")

    row = await wait_finished(db, session_id)

    assert (row.status, row.exit_code) == ("failed", 3)
    assert "exited with code 3" in (row.error or "") and "boom <at> the end" in (row.error or "")
    payload = (await session_events(db, session_id))[-1][1]
    assert payload["exit_code"] == 3 and "boom" in payload["error"]
    *_, (chat, report), (reply_chat, reply) = await outbox_texts(db)
    assert chat == 7 and "exit 3" in report and "boom &lt;at&gt; the end" in report
    assert reply_chat == 7 and "session failed:" in reply and "exited with code 3" in reply


async def test_output_is_kept_bounded_with_its_end(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    row = await wait_finished(db, await enqueue(db, "emma", "FAKE:stdout-bytes=300000"))
    assert row.status == "completed"
    assert len(row.output_tail or "") <= 4000
    assert "END" in (row.output_tail or "") and "fake claude done" in (row.output_tail or "")


async def test_a_missing_cli_fails_the_session_and_the_runner_goes_on(
    db: Db, make_settings: Callable[..., Settings], start_runner: Any, tmp_path: Path
) -> None:
    settings = make_settings(claude_bin=str(tmp_path / "no-such-claude"))
    await start_runner(settings)
    first = await wait_finished(db, await enqueue(db, "rafael", "one"))
    second = await wait_finished(db, await enqueue(db, "rafael", "two"))
    for row in (first, second):
        assert row.status == "failed" and row.exit_code is None
        assert "was not found (check CLAUDE_BIN)" in (row.error or "")


async def test_start_up_fails_sessions_left_running_and_runs_the_queue(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    crashed = await enqueue(db, "rafael", "was running when the process died")
    elsewhere = await enqueue(db, "emma", "runs in a live process on another host")
    waiting = await enqueue(db, "rafael", "waited in the queue")
    async with db() as session, session.begin():
        # A dead process of this host, and a live one elsewhere (fresh heartbeat).
        await citizen_queue.claim_next(
            session=session, citizen="rafael", claimed_by=f"{socket.gethostname()}:999999999:dead"
        )
        await citizen_queue.claim_next(
            session=session, citizen="emma", claimed_by="other-host:1:alive"
        )

    await start_runner(runner_settings)

    crashed_row = await wait_finished(db, crashed)
    assert crashed_row.status == "failed" and "stopped before it finished" in (
        crashed_row.error or ""
    )
    assert (await wait_finished(db, waiting)).status == "completed"
    assert (await wait_status(db, elsewhere, "running")).finished_at is None
    assert [call["argv"][1] for call in fake_claude.calls()] == ["waited in the queue"]


async def test_a_silent_runner_elsewhere_is_reaped_once_its_heartbeat_is_stale(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    silent = await enqueue(db, "emma", "its host went away")
    async with db() as session, session.begin():
        await citizen_queue.claim_next(session=session, citizen="emma", claimed_by="gone:1:x")
    await start_runner(runner_settings, heartbeat_interval_s=0.1, stale_after_s=0.5)
    row = await wait_finished(db, silent)
    assert row.status == "failed" and row.error == "worker lost"


async def test_shutdown_kills_running_sessions_and_records_them_failed(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    runner = await start_runner(runner_settings)
    session_id = await enqueue(db, "daniel", "FAKE:child\nFAKE:sleep=60")
    await wait_until(fake_claude.calls, "the CLI to start")

    await runner.stop()

    row = await session_row(db, session_id)
    assert row.status == "failed" and "shut down" in (row.error or "")
    [call] = fake_claude.calls()
    await wait_until(
        lambda: not process_alive(call["pid"]) and not process_alive(call["child_pid"]),
        "the session's processes to be gone",
    )


async def test_two_runners_on_one_database_never_overlap_a_citizen(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    other_engine = create_engine(runner_settings.database_url)
    try:
        ids = [await enqueue(db, "rafael", f"r{i}\nFAKE:sleep=0.05") for i in range(4)]
        ids += [await enqueue(db, "emma", f"e{i}\nFAKE:sleep=0.05") for i in range(2)]
        await asyncio.gather(
            start_runner(runner_settings),
            start_runner(runner_settings, database=session_factory(other_engine)),
        )
        for session_id in ids:
            assert (await wait_finished(db, session_id)).status == "completed"
        assert len(fake_claude.calls()) == 6
        for citizen, count in (("rafael", 4), ("emma", 2)):
            runs = _intervals(fake_claude, citizen)
            assert len(runs) == count
            for (_, _, end), (_, start, _) in itertools.pairwise(runs):
                assert end <= start
    finally:
        await other_engine.dispose()


def _intervals(fake: FakeClaude, citizen: str) -> list[tuple[str, float, float]]:
    ends = {entry["pid"]: entry["time"] for entry in fake.entries("end")}
    runs = [
        (call["argv"][1], call["time"], ends[call["pid"]])
        for call in fake.calls()
        if Path(call["cwd"]).name == citizen
    ]
    return sorted(runs, key=lambda run: run[1])


async def test_notices_go_to_the_triggering_chat_and_nowhere_while_telegram_is_off(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings, chat_id=7)
    await wait_finished(db, await enqueue(db, "emma", "from the operator chat"))
    await wait_finished(db, await enqueue(db, "emma", "from a group", chat_id=-100))
    chats = [chat for chat, _ in await outbox_texts(db)]
    assert list(dict.fromkeys(chats)) == [7, -100]
    assert chats.count(7) >= 2 and chats.count(-100) >= 2


async def test_no_notice_is_kept_while_telegram_is_off(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings, chat_id=7, telegram=False)
    assert (await wait_finished(db, await enqueue(db, "emma", "hi", chat_id=5))).exit_code == 0
    assert await outbox_texts(db) == []


async def test_the_end_of_a_session_is_recorded_once_the_database_takes_writes_again(
    db: Db,
    runner_settings: Settings,
    start_runner: Any,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with db() as session, session.begin():
        for statement in _refuse_completion(backend):
            await session.execute(text(statement))
    await start_runner(runner_settings)
    session_id = await enqueue(db, "emma", "finish while the database refuses")
    await wait_until(
        lambda: any("recording its end failed" in m for m in caplog.messages),
        "a refused attempt to record the end",
    )
    assert (await session_row(db, session_id)).status == "running"

    async with db() as session, session.begin():
        await session.execute(text(_drop_refusal(backend)))

    row = await wait_finished(db, session_id)
    assert (row.status, row.exit_code) == ("completed", 0)


def _refuse_completion(backend: str) -> list[str]:
    if backend == "sqlite":
        return [
            "CREATE TRIGGER refuse_completion BEFORE UPDATE OF status ON sessions "
            "WHEN NEW.status = 'completed' BEGIN SELECT RAISE(ABORT, 'read-only, say'); END"
        ]
    return [
        "CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'read-only, say'; END $$",
        "CREATE TRIGGER refuse_completion BEFORE UPDATE ON sessions FOR EACH ROW "
        "WHEN (NEW.status = 'completed') EXECUTE FUNCTION refuse_completion()",
    ]


def _drop_refusal(backend: str) -> str:
    if backend == "sqlite":
        return "DROP TRIGGER refuse_completion"
    return "DROP TRIGGER refuse_completion ON sessions"
