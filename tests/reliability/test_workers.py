"""`scopelock worker` processes and a web process that only queues (SESSIONS_IN_PROCESS=false),
on one PostgreSQL database (CONTRACT §13): each session runs once, one per citizen at a time,
on whichever worker has room; a killed worker's session is failed once as `worker lost`; a
SIGTERM drains.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import CitizenSession, Event, OutboxMessage
from tests.citizens_support import FakeClaude, process_alive
from tests.fake_telegram import FakeTelegram
from tests.polling import wait_until
from tests.reliability.service_runs import AUTH, ServiceRun, bot_service_env, post
from tests.reliability.test_two_instances import assert_one_session_per_citizen_at_a_time
from tests.reliability.worker_runs import SETTLE_S, Db, WorkerRun, rows, status_is
from tests.service_process import free_port
from tests.signed_posts import signed_headers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(180)]

WEBHOOK_SECRET = "whsec-workers-0d41c2"
CITIZENS = ("rafael", "emma", "daniel")


@pytest.fixture
def env(
    workers_postgres_url: str,
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    citizens_home: Path,
) -> dict[str, str]:
    return bot_service_env(
        workers_postgres_url,
        fake_telegram.base_url,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        CLAUDE_BIN=str(fake_claude.bin),
        CITIZENS_DIR=str(citizens_home),
        SESSIONS_IN_PROCESS="false",
        SESSION_LEASE_S="5",
    )


@pytest.fixture
async def web(env: dict[str, str], tmp_path: Path) -> AsyncIterator[ServiceRun]:
    """The web process: API, webhooks, Telegram; it queues sessions and runs none."""
    service = ServiceRun(env, tmp_path / "web", free_port())
    async with aiohttp.ClientSession(headers=AUTH) as http:
        await service.start(http)
    # Citizens call the API: the workers are told where it is.
    env["BACKEND_API_URL"] = f"127.0.0.1:{service.port}"
    yield service
    service.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerRun]]:
    started: list[WorkerRun] = []
    yield started
    for worker in started:
        worker.close()


async def trigger(web: ServiceRun, citizen: str, message: str, n: int) -> str:
    raw = json.dumps({"message": message}).encode()
    headers = signed_headers(
        WEBHOOK_SECRET, raw, **{"X-Webhook-Id": f"workers-{n}-{time.monotonic_ns()}"}
    )
    async with aiohttp.ClientSession() as http:
        status, answer = await post(
            http, f"{web.url}/webhook/trigger/{citizen}", None, headers=headers, data=raw
        )
    assert status == 202, answer
    return str(answer["session_id"])


async def health(web: ServiceRun) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{web.url}/health") as response:
        return dict(await response.json())


async def test_two_workers_run_thirty_sessions_of_three_citizens_each_once(
    workers_db: Db,
    env: dict[str, str],
    web: ServiceRun,
    workers: list[WorkerRun],
    fake_claude: FakeClaude,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
) -> None:
    workers += [WorkerRun(env, tmp_path / name, name) for name in ("a", "b")]
    for worker in workers:
        await worker.wait_logged("running up to 2 session(s) at once")
    assert (await health(web))["workers"] == 2

    sessions = [
        await trigger(web, CITIZENS[n % 3], f"Task {n}\nFAKE:sleep=0.3", n) for n in range(30)
    ]

    async def settled() -> dict[str, CitizenSession] | None:
        now = await rows(workers_db)
        return now if all(r.status in ("completed", "failed") for r in now.values()) else None

    ran = await wait_until(settled, "every session to end", SETTLE_S)
    assert set(ran) == set(sessions)
    assert all(row.status == "completed" for row in ran.values()), [
        row.error for row in ran.values()
    ]
    launches = Counter(call["env"]["SCOPELOCK_SESSION_ID"] for call in fake_claude.calls())
    assert launches == Counter(sessions)  # each once
    assert_one_session_per_citizen_at_a_time(fake_claude)
    by_worker = Counter(next(w.proc.pid for w in workers if w.runs(row)) for row in ran.values())
    assert len(by_worker) == 2, by_worker  # both workers took sessions
    # The workers' notices went through the outbox; the web process sent every one of them.

    async def all_sent() -> bool:
        async with workers_db() as session:
            pending = (
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.status != "sent")  # type: ignore[arg-type]
                )
            ).all()
        return not pending

    await wait_until(all_sent, "every notice to be sent", SETTLE_S)
    texts = [message["text"] for message in fake_telegram.messages.values()]
    assert sum("completed" in text for text in texts) == 30, texts
    assert (await health(web))["sessions_queued"] == 0
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
    assert [await worker.exit_code() for worker in workers] == [0, 0]
    assert not any("Traceback" in worker.stderr for worker in workers)


async def test_a_killed_worker_s_session_is_lost_once_and_the_citizen_goes_on_elsewhere(
    workers_db: Db,
    env: dict[str, str],
    web: ServiceRun,
    workers: list[WorkerRun],
    fake_claude: FakeClaude,
    tmp_path: Path,
) -> None:
    release = tmp_path / "never"
    doomed = WorkerRun(env, tmp_path / "a", "a")
    workers.append(doomed)
    await doomed.wait_logged("running up to")
    lost = await trigger(web, "rafael", f"Long task\nFAKE:wait-for={release}", 1)
    await wait_until(lambda: len(fake_claude.calls()) == 1, "the CLI to start", SETTLE_S)
    assert doomed.runs((await rows(workers_db))[lost])

    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait(10)
    survivor = WorkerRun(env, tmp_path / "b", "b")
    workers.append(survivor)

    row = await wait_until(
        lambda: status_is(workers_db, lost, "failed"),
        "the lost session to be failed",
        timeout=30,
    )
    assert row.error == "worker lost"
    [orphan] = fake_claude.calls()
    await wait_until(lambda: not process_alive(orphan["pid"]), "the orphan CLI to end", SETTLE_S)
    after = await trigger(web, "rafael", "Next task", 2)
    done = await wait_until(
        lambda: status_is(workers_db, after, "completed"), "the next session", SETTLE_S
    )
    assert survivor.runs(done)
    async with workers_db() as session:
        ends = (
            await session.scalars(select(Event).where(Event.event.like("citizen.session.%")))
        ).all()  # type: ignore[attr-defined]
    failed = [e for e in ends if e.payload.get("session_id") == lost and "failed" in e.event]
    assert len(failed) == 1
    launches = Counter(call["env"]["SCOPELOCK_SESSION_ID"] for call in fake_claude.calls())
    assert launches == Counter({lost: 1, after: 1})  # the lost one never ran again


async def test_sigterm_lets_a_running_session_finish_and_claims_nothing_more(
    workers_db: Db,
    env: dict[str, str],
    web: ServiceRun,
    workers: list[WorkerRun],
    fake_claude: FakeClaude,
    tmp_path: Path,
) -> None:
    release = tmp_path / "release"
    worker = WorkerRun(env, tmp_path / "a", "a", WORKER_DRAIN_S="30")
    workers.append(worker)
    await worker.wait_logged("running up to")
    running = await trigger(web, "rafael", f"Finish me\nFAKE:wait-for={release}", 1)
    await wait_until(lambda: len(fake_claude.calls()) == 1, "the CLI to start", SETTLE_S)

    worker.proc.send_signal(signal.SIGTERM)
    await worker.wait_logged("stopping: no new sessions")
    waiting = await trigger(web, "emma", "Queued during the drain", 2)
    release.touch()

    assert await worker.exit_code() == 0, worker.stderr
    now = await rows(workers_db)
    assert now[running].status == "completed", now[running].error
    assert now[waiting].status == "queued"
    assert len(fake_claude.calls()) == 1


async def test_sigterm_fails_what_is_still_running_at_the_drain_deadline(
    workers_db: Db,
    env: dict[str, str],
    web: ServiceRun,
    workers: list[WorkerRun],
    fake_claude: FakeClaude,
    tmp_path: Path,
) -> None:
    worker = WorkerRun(env, tmp_path / "a", "a", WORKER_DRAIN_S="1")
    workers.append(worker)
    await worker.wait_logged("running up to")
    stuck = await trigger(web, "daniel", "FAKE:child\nFAKE:sleep=120", 1)
    await wait_until(lambda: len(fake_claude.calls()) == 1, "the CLI to start", SETTLE_S)

    worker.proc.send_signal(signal.SIGTERM)

    assert await worker.exit_code() == 0, worker.stderr
    row = (await rows(workers_db))[stuck]
    assert row.status == "failed" and row.error == "worker stopped"
    [call] = fake_claude.calls()
    assert not process_alive(call["pid"]) and not process_alive(call["child_pid"])
