"""PostgreSQL goes down twice under load: every request is answered, nothing acknowledged is lost.

The service runs as its own process (`python -m bot`) on a private cluster that the test
crashes (`pg_ctl stop -m immediate`) and later shuts down cleanly (`-m fast`), restarting it
each time, while workers post events and drafts and a monitor polls /health.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import API_TOKEN
from tests.reliability.private_postgres import PrivatePostgres, private_postgres
from tests.service_process import ServiceProcess, clean_env, free_port

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(180)]

REQUEST_TIMEOUT_S = 5.0
WORKERS = 4
PAUSE_S = 0.2
HEALTH_EVERY_S = 0.25
# (how PostgreSQL is stopped, how long it stays down)
FAULTS = [("immediate", 4.0), ("fast", 3.0)]
STEADY_S = 4.0
RECOVERY_BOUND_S = 30.0
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@dataclass
class Answer:
    kind: str
    started: float
    elapsed: float
    status: int | None
    body: Any
    failure: str | None = None


@dataclass
class Window:
    start: float
    end: float | None = None

    def holds(self, moment: float) -> bool:
        return self.start <= moment <= (self.end if self.end is not None else float("inf"))


class Load:
    """Workers posting events and drafts, and a /health monitor, until `stop` is set."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = asyncio.Event()
        self.answers: list[Answer] = []
        self.health: list[Answer] = []

    async def call(
        self, http: aiohttp.ClientSession, kind: str, method: str, path: str, body: Any = None
    ) -> Answer:
        started = time.monotonic()
        try:
            async with http.request(method, self.base_url + path, json=body) as response:
                status, document = response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            return Answer(kind, started, time.monotonic() - started, None, None, repr(error))
        return Answer(kind, started, time.monotonic() - started, status, document)

    async def worker(self, http: aiohttp.ClientSession, number: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            event = {"event": "reliability.load@1.0", "payload": {"w": number, "n": sequence}}
            self.answers.append(await self.call(http, "event", "POST", "/api/event/log", event))
            draft = {
                "client": f"Load client {number}",
                "job_title": "Outage drill",
                "message": f"request {sequence}",
                "draft_text": f"draft {number}-{sequence}",
                "confidence": sequence % 101,
            }
            self.answers.append(await self.call(http, "draft", "POST", "/api/draft/create", draft))
            await asyncio.sleep(PAUSE_S)

    async def monitor(self, http: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            self.health.append(await self.call(http, "health", "GET", "/health"))
            await asyncio.sleep(HEALTH_EVERY_S)

    async def healthy(self, http: aiohttp.ClientSession) -> None:
        """Wait (bounded) for /health to say the database is back."""
        deadline = time.monotonic() + RECOVERY_BOUND_S
        while time.monotonic() < deadline:
            answer = await self.call(http, "health", "GET", "/health")
            if answer.status == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"/health did not recover within {RECOVERY_BOUND_S}s")


async def run_faults(cluster: PrivatePostgres, load: Load, http: aiohttp.ClientSession) -> list:
    windows = []
    await asyncio.sleep(STEADY_S)
    for mode, down_s in FAULTS:
        window = Window(time.monotonic())
        windows.append(window)
        await asyncio.to_thread(cluster.stop, mode)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(cluster.start)
        await load.healthy(http)
        window.end = time.monotonic()
        await asyncio.sleep(STEADY_S)
    load.stop.set()
    return windows


async def create_database(cluster: PrivatePostgres) -> str:
    connection = await asyncpg.connect(cluster.url, timeout=10)
    try:
        await connection.execute("CREATE DATABASE scopelock")
    finally:
        await connection.close()
    return cluster.url.rsplit("/", 1)[0] + "/scopelock"


async def stored(url: str) -> tuple[dict[int, dict[str, Any]], set[str], set[str]]:
    """Events by id, draft ids, and the draft ids that have their draft.created event."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        events = {
            row["id"]: row["payload"]
            for row in await connection.fetch(
                "SELECT id, payload::text AS payload FROM events WHERE event = $1",
                "reliability.load@1.0",
            )
        }
        drafts = {row["id"] for row in await connection.fetch("SELECT id FROM drafts")}
        created = {
            row["draft_id"]
            for row in await connection.fetch(
                "SELECT payload->>'draft_id' AS draft_id FROM events WHERE event = $1",
                "draft.created@1.0",
            )
        }
    finally:
        await connection.close()
    return events, drafts, created


async def drive_load_through_faults(
    cluster: PrivatePostgres, service: ServiceProcess
) -> tuple[Load, list[Window]]:
    load = Load(service.url)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(headers=AUTH, timeout=timeout) as http:
        tasks = [asyncio.create_task(load.worker(http, n)) for n in range(WORKERS)]
        tasks.append(asyncio.create_task(load.monitor(http)))
        try:
            windows = await run_faults(cluster, load, http)
        finally:
            load.stop.set()
            await asyncio.gather(*tasks)
    return load, windows


async def test_requests_during_database_outages_are_answered_and_acknowledged_writes_kept(
    tmp_path: Path, figures: Counter[str]
) -> None:
    with private_postgres() as cluster:
        database_url = await create_database(cluster)
        port = free_port()
        env = clean_env(
            DATABASE_URL=database_url, API_TOKEN=API_TOKEN, HOST="127.0.0.1", PORT=str(port)
        )
        service = ServiceProcess([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, port=port)
        with service:
            await asyncio.to_thread(service.wait_healthy)
            load, windows = await drive_load_through_faults(cluster, service)
            # The same process answered throughout: it recovered without a restart.
            assert service.proc is not None and service.proc.poll() is None, "the service died"
            events, drafts, created = await stored(database_url)
            log = service.stderr

    answers = load.answers
    during = [a for a in answers if any(w.holds(a.started) for w in windows)]
    after_last = [a for a in answers if a.started > (windows[-1].end or 0)]
    unanswered = [a for a in [*answers, *load.health] if a.failure is not None]
    assert not unanswered, f"requests without an answer: {unanswered[:5]}"
    assert max(a.elapsed for a in [*answers, *load.health]) < REQUEST_TIMEOUT_S

    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= {201, 503}, (statuses, _unhandled(log))
    for answer in answers:
        if answer.status == 503:
            assert answer.body["error"]["code"] == "database_unavailable", answer.body
    assert statuses[503] > 0, "the outages never reached a request"
    assert any(a.status == 201 for a in after_last), "the service did not recover"

    health = [(a.started, a.status, a.body) for a in load.health]
    for window in windows:
        seen = [body for moment, status, body in health if window.holds(moment) and status == 503]
        assert seen and all(body["database"] == "error" for body in seen), "outage not reported"
    assert health[-1][1] == 200 and health[-1][2]["database"] == "ok", health[-1]

    acknowledged_events = {
        a.body["event_id"] for a in answers if a.kind == "event" and a.status == 201
    }
    acknowledged_drafts = {
        a.body["draft_id"] for a in answers if a.kind == "draft" and a.status == 201
    }
    lost = len(acknowledged_events - set(events)) + len(acknowledged_drafts - drafts)
    figures["database outage: requests sent"] += len(answers)
    figures["database outage: requests sent during faults"] += len(during)
    figures["database outage: faults survived"] += len(windows)
    figures["acknowledged writes lost"] += lost
    assert lost == 0, "acknowledged writes are missing from the database"
    assert acknowledged_drafts <= created, "a draft was stored without its draft.created event"
    assert "unhandled error" not in log and API_TOKEN not in log
    print(
        f"\ndatabase outage: {len(answers)} requests, {len(during)} during {len(windows)} faults,"
        f" {statuses[201]} acknowledged, {statuses[503]} answered 503, {lost} lost"
    )


def _unhandled(log: str) -> str:
    """The service's first unhandled error, traceback and all (why a request got a 500)."""
    start = log.find("unhandled error")
    return log[start : start + 4000] if start >= 0 else "(no unhandled error in the log)"
