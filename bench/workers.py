"""Sessions per minute with 1, 2 and 4 `scopelock worker` processes on one PostgreSQL database,
and how long a queued session waits to be claimed when a worker has room (CONTRACT §13).

The CLI is a shell script that sleeps a fixed time and prints a JSON result, so the queue and
the workers are measured, not the CPU. Each worker runs WORKER_CONCURRENCY=2 sessions at once
over eight citizens (one running session per citizen, so eight slots are the most four workers
can fill); every worker count gets a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bench.database import fresh_database
from bench.processes import REPO, SERVICE_ENV
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade_to_head
from storage.models import CitizenSession, Worker
from storage.repo import citizen_queue

WORKERS = "sessions by scopelock worker processes"
"""The scenario's name (`--only worker` runs it alone)."""
WORKER = [sys.executable, "-m", "bot", "worker"]
WORKER_COUNTS = (1, 2, 4)
CONCURRENCY = 2
CITIZENS = [f"bench{n}" for n in range(8)]
SESSION_S = 1.0
ROUNDS = 6
"""Sessions queued at once per slot: the ideal run lasts ROUNDS × SESSION_S."""
LATENCY_SAMPLES = 100
TIMEOUT_S = 120.0
MIN_EFFICIENCY = 0.85
MAX_CLAIM_P99_MS = 250.0

FAKE_CLI = f"""#!/bin/sh
# The bench's CLI: waits, then answers like `claude --output-format json` (argv: --print PROMPT).
case "$2" in *quick*) sleep 0.01 ;; *) sleep {SESSION_S} ;; esac
printf '{{"type":"result","subtype":"success","is_error":false,"result":"ok",\\
"session_id":"%s","total_cost_usd":0,"num_turns":1}}\\n' "$(cat /proc/sys/kernel/random/uuid)"
"""

Db = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class WorkersResult:
    workers: int
    sessions: int
    per_minute: float
    efficiency: float
    """Sessions per minute / (workers × one worker's sessions per minute)."""
    claim_p50_ms: float
    claim_p99_ms: float


def prepare(workdir: Path) -> dict[str, str]:
    """The citizens' folders and the sleeping CLI; the workers' environment."""
    root = workdir / "worker-citizens"
    for name in CITIZENS:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "CLAUDE.md").write_text(f"# {name} (bench)\n")
    cli = workdir / "sleeping-claude"
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in SERVICE_ENV}
    return {
        **inherited,
        "PYTHONPATH": str(REPO),
        "CITIZENS_DIR": str(root),
        "CLAUDE_BIN": str(cli),
        "WORKER_CONCURRENCY": str(CONCURRENCY),
        "BACKEND_API_URL": "127.0.0.1:9",  # never called: the CLI calls no tool
        "LOG_LEVEL": "WARNING",
        "CITIZEN_MAX_BUDGET_USD": "",
    }


async def measure_workers(
    admin_url: str, workdir: Path, log: Callable[[str], None]
) -> list[WorkersResult]:
    env = prepare(workdir)
    results: list[WorkersResult] = []
    for count in WORKER_COUNTS:
        async with fresh_database(admin_url) as url:
            per_minute, latencies = await _measure(url, count, env, workdir)
        one = results[0].per_minute if results else per_minute
        result = WorkersResult(
            workers=count,
            sessions=count * CONCURRENCY * ROUNDS,
            per_minute=per_minute,
            efficiency=per_minute / (count * one),
            claim_p50_ms=statistics.median(latencies),
            claim_p99_ms=statistics.quantiles(latencies, n=100)[98],
        )
        results.append(result)
        log(
            f"{count} worker(s): {per_minute:.0f} sessions/min ({result.efficiency:.0%} of "
            f"linear), claim p50 {result.claim_p50_ms:.0f} ms, p99 {result.claim_p99_ms:.0f} ms"
        )
    return results


async def _measure(
    url: str, count: int, env: dict[str, str], workdir: Path
) -> tuple[float, list[float]]:
    """(sessions per minute, claim latencies in ms) with `count` workers."""
    engine = create_engine("postgresql+asyncpg://" + url.partition("://")[2])
    db = session_factory(engine)
    await upgrade_to_head(engine)
    logs = [(workdir / f"worker-{count}-{n}.log").open("wb") for n in range(count)]
    workers = [
        await asyncio.create_subprocess_exec(
            *WORKER,
            cwd=workdir,
            env={**env, "DATABASE_URL": url},
            stdout=log,
            stderr=log,
        )
        for log in logs
    ]
    try:
        await _wait(lambda: _workers_alive(db, count), "the workers to start")
        sessions = count * CONCURRENCY * ROUNDS
        started = time.monotonic()
        async with db() as session, session.begin():
            for n in range(sessions):
                citizen = CITIZENS[n % (count * CONCURRENCY)]
                await citizen_queue.enqueue(
                    session=session, citizen=citizen, trigger="bench", prompt=f"work {n}"
                )
        await _wait(lambda: _all_ended(db, sessions), "every session to end")
        per_minute = sessions / (time.monotonic() - started) * 60
        latencies = [await _claim_latency(db, n, sessions + n + 1) for n in range(LATENCY_SAMPLES)]
    finally:
        for worker in workers:
            worker.terminate()
        await asyncio.gather(*(worker.wait() for worker in workers))
        for log in logs:
            log.close()
        await engine.dispose()
    return per_minute, latencies


async def _claim_latency(db: Db, n: int, ended_after: int) -> float:
    """Queue one quick session while every worker is idle; ms from queued to running."""
    async with db() as session, session.begin():
        row = await citizen_queue.enqueue(
            session=session, citizen=CITIZENS[n % len(CITIZENS)], trigger="bench", prompt="quick"
        )
    await _wait(lambda: _all_ended(db, ended_after), "a quick session to end")
    async with db() as session:
        ran = await session.get(CitizenSession, row.id)
    assert ran is not None and ran.started_at is not None
    return (ran.started_at - row.created_at).total_seconds() * 1000


async def _workers_alive(db: Db, count: int) -> bool:
    async with db() as session:
        return (await session.scalar(select(func.count()).select_from(Worker))) == count


async def _all_ended(db: Db, count: int) -> bool:
    async with db() as session:
        ended = await session.scalar(
            select(func.count()).where(col(CitizenSession.status).in_(("completed", "failed")))
        )
    return ended == count


async def _wait(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.005)
