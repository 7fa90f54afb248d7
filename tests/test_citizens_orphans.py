"""After a `kill -9` of the service, the citizen CLI it ran is found and ended at the next start
(ISSUE 14 item 9): by its process group, confirmed by the session id in its environment."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from citizens import orphans
from tests.citizens_support import FakeClaude, enqueue_session, process_alive, session_row
from tests.service_process import ServiceProcess, clean_env, free_port

Db = async_sessionmaker[AsyncSession]
BOUND_S = 30.0


def wait_until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + BOUND_S
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


@pytest.fixture
def sleeper() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start processes leading their own group (as the runner starts the CLI); all are reaped."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            env={"PATH": os.environ.get("PATH", ""), **env},
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


async def test_a_group_is_ended_only_when_it_carries_the_session_id(
    sleeper: Callable[..., subprocess.Popen[bytes]],
) -> None:
    unrelated = sleeper({})
    other_session = sleeper({"SCOPELOCK_SESSION_ID": "another-session"})
    ours = sleeper({"SCOPELOCK_SESSION_ID": "session-1"})
    wait_until(lambda: orphans.group_members(ours.pid), "the process to start")

    assert await orphans.end_orphan(unrelated.pid, "session-1") is False
    assert await orphans.end_orphan(other_session.pid, "session-1") is False
    assert await orphans.end_orphan(None, "session-1") is False
    assert await orphans.end_orphan(os.getpgrp(), "session-1") is False  # never our own group
    assert await orphans.end_orphan(ours.pid, "session-1") is True

    assert ours.wait(timeout=BOUND_S) < 0  # ended by a signal
    assert process_alive(unrelated.pid) and process_alive(other_session.pid)


@pytest.mark.slow
async def test_an_orphaned_cli_is_ended_when_the_service_starts_again(
    database_url: str,
    db: Db,
    fake_claude: FakeClaude,
    citizens_home: Path,
    tmp_path: Path,
) -> None:
    session_id = await enqueue_session(db, "rafael", "FAKE:child\nFAKE:sleep=120")
    env = clean_env(
        DATABASE_URL=database_url,
        CLAUDE_BIN=str(fake_claude.bin),
        CITIZENS_DIR=str(citizens_home),
    )

    port = free_port()
    with ServiceProcess(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env={**env, "PORT": str(port)}, port=port
    ) as first:
        first.wait_healthy()
        [call] = wait_until(fake_claude.calls, "the CLI to start")
        row = await session_row(db, session_id)
        while row.pgid is None:  # recorded just after the CLI started
            time.sleep(0.05)
            row = await session_row(db, session_id)
        assert row.pgid == call["pid"]
        first.kill()  # SIGKILL: nothing of the service runs its clean-up

    cli, child = call["pid"], call["child_pid"]
    try:
        assert process_alive(cli) and process_alive(child)  # orphaned, still running

        port = free_port()
        with ServiceProcess(
            [sys.executable, "-m", "bot"], cwd=tmp_path, env={**env, "PORT": str(port)}, port=port
        ) as second:
            second.wait_healthy()
            wait_until(
                lambda: not process_alive(cli) and not process_alive(child), "the orphan's end"
            )
            row = await session_row(db, session_id)
            assert row.status == "failed" and "stopped before it finished" in (row.error or "")
            assert "orphaned CLI of session" in second.stderr
            assert second.stop() == 0
    finally:
        if orphans.orphan_group(cli, session_id):  # whatever a failed run left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cli, signal.SIGKILL)
