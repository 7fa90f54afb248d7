"""One bench run: a fresh database, the service and its ceiling side by side, every scenario in
alternating rounds, then the table and the targets."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench import processes
from bench.database import EVENT_INTERVAL, fresh_database, seed_events
from bench.load import Load, Run, require_wrk, run_wrk
from bench.notify import (
    CEILING_CHAT_ID,
    CHAT_ID,
    DRAIN_POLL_S,
    Telegram,
    notification_latency,
    wait_until_delivered,
)
from bench.plans import explain_event_queries
from bench.report import Report, Result
from bench.scenarios import (
    EVENT_QUERY_NAMES,
    READ_DRAFT,
    READ_THREAD,
    STATS,
    WEBHOOK,
    Scenario,
    event_query_scenarios,
    read_draft_scenario,
    stats_scenario,
    thread_view_scenario,
    webhook_scenario,
    write_scenarios,
)
from bench.stats_seed import seed_stats
from bench.threads_seed import hold_citizen_runner, seed_threads
from bench.webhook import new_secret
from bench.workers import WORKERS, measure_workers

TOKEN = "bench-api-token-3c1d0e"
RESULTS_DIR = Path(__file__).parent / "results"
NOTIFICATION = "draft created → notification received"
# Bounds the run: a round's cards must reach Telegram within this after its load.
DRAIN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Options:
    admin_url: str
    sizes: tuple[int, ...]
    rounds: int
    seconds: int
    warmup_seconds: int
    notifications: int = 200
    """Drafts posted one by one to time their notification."""
    only: str | None = None
    """Run only the scenarios whose name contains this."""
    profile: bool = False
    """Record the service with py-spy during its first round of each scenario."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    """Runs the selected scenarios against the service and its ceiling."""

    def __init__(
        self,
        url: str,
        options: Options,
        service: processes.Server,
        ceiling: processes.Server,
        report: Report,
        webhook_secret: str,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.url = url
        self.options = options
        self.service = service
        self.ceiling = ceiling
        self.report = report

    def selected(self, name: str) -> bool:
        return self.options.only is None or self.options.only in name

    async def event_queries(self) -> None:
        """The reads of the event log, at each size; the log is topped up between sizes."""
        if not any(self.selected(name) for name in EVENT_QUERY_NAMES):
            return
        # The seeded log ends a little before now, so events logged later are the newest.
        sizes = self.options.sizes
        origin = datetime.now(UTC) - EVENT_INTERVAL * max(sizes) - timedelta(hours=1)
        for size in sizes:
            started = time.monotonic()
            added = await seed_events(self.url, size, origin=origin)
            log(f"seeded {added} events (now {size}) in {time.monotonic() - started:.1f} s")
            for line in await explain_event_queries(self.url, size, RESULTS_DIR):
                log(f"plan: {line}")
            for scenario in await event_query_scenarios(self.url, size):
                if self.selected(scenario.name):
                    await same_answers(scenario.load, self.service, self.ceiling)
                    await self.measure(scenario)

    async def stats(self) -> None:
        """/api/stats over 30 days, at 100k drafts (and their rows) and 1M events."""
        if not self.selected(STATS):
            return
        origin = datetime.now(UTC) - EVENT_INTERVAL * 1_000_000 - timedelta(hours=1)
        started = time.monotonic()
        added = await seed_events(self.url, 1_000_000, origin=origin)
        drafts = await seed_stats(self.url)
        log(f"seeded {added} events, {drafts} drafts in {time.monotonic() - started:.1f} s")
        await self.measure(stats_scenario())

    async def writes_and_reads(self) -> None:
        for scenario in write_scenarios():
            if self.selected(scenario.name):
                await self.measure(scenario)
        if self.selected(READ_DRAFT):
            if not self.selected("POST /api/draft/create"):
                await self.load(self.service, write_scenarios()[1], seconds=1)
            scenario = await read_draft_scenario(self.url)
            await same_answers(scenario.load, self.service, self.ceiling)
            await self.measure(scenario)

    async def threads(self) -> None:
        """A long thread read whole, and a client's signed reply joining its thread."""
        if self.selected(READ_THREAD):
            scenario = thread_view_scenario(await seed_threads(self.url))
            await same_answers(scenario.load, self.service, self.ceiling)
            await self.measure(scenario)
        if self.selected(WEBHOOK):
            await hold_citizen_runner(self.url)
            await self.measure(webhook_scenario(self.webhook_secret))

    async def drain(self, target: processes.Server, scenario: Scenario) -> tuple[float, int]:
        """Wait for `target`'s queued cards to reach the fake Bot API: (seconds, cards unsent)."""
        if not scenario.notifies:
            return 0.0, 0
        chat_id = CHAT_ID if target is self.service else CEILING_CHAT_ID
        drain_s, unsent = await wait_until_delivered(self.url, chat_id, DRAIN_TIMEOUT_S)
        if drain_s > DRAIN_POLL_S:
            log(f"{target.name}: the last cards reached Telegram {drain_s:.1f} s after the load")
        if unsent:
            log(f"{target.name}: {unsent} cards still unsent after {DRAIN_TIMEOUT_S} s")
        return drain_s, unsent

    async def load(self, target: processes.Server, scenario: Scenario, seconds: int) -> Run:
        load = scenario.load
        path = load.first_path if load.paths else scenario.name.split()[1]
        return await run_wrk(target.base_url, load, token=TOKEN, seconds=seconds, path=path)

    async def measure(self, scenario: Scenario) -> None:
        """Warm both up, then alternate them round by round so drift hits both alike."""
        options = self.options
        result = Result(
            scenario.label, scenario.name, scenario.events, target_p99_ms=scenario.target_p99_ms
        )
        sides = {self.service.name: result.service, self.ceiling.name: result.ceiling}
        # A scenario with an absolute target has no ceiling: the service runs alone.
        targets = (self.service,) if scenario.target_p99_ms else (self.service, self.ceiling)
        for target in targets:
            await self.load(target, scenario, options.warmup_seconds)
            await self.drain(target, scenario)
        for round_no in range(options.rounds):
            for target in targets if round_no % 2 == 0 else reversed(targets):
                profiler = None
                if options.profile and target is self.service and round_no == 0:
                    profiler = await start_profiler(target.pid, scenario.label, options.seconds)
                run = await self.load(target, scenario, options.seconds)
                if profiler is not None:
                    await profiler.wait()
                # Cards still queued when the load stops are part of the round's work.
                drain_s, unsent = await self.drain(target, scenario)
                sides[target.name].runs.append(replace(run, seconds=run.seconds + drain_s))
                self.report.unsent_cards[target.name] += unsent
        if scenario.target_p99_ms:
            log(
                f"{scenario.label}: service {result.service.rps:.0f} req/s, "
                f"p99 {result.service.p99_ms:.1f} ms, errors {result.service.errors}"
            )
        else:
            log(
                f"{scenario.label}: service {result.service.rps:.0f} req/s, "
                f"ceiling {result.ceiling.rps:.0f} req/s ({result.ratio:.0%}), "
                f"errors {result.service.errors + result.ceiling.errors}"
            )
        self.report.results.append(result)


async def start_profiler(pid: int, label: str, seconds: int) -> asyncio.subprocess.Process:
    """py-spy on the service for one round: raw stacks, for flamegraph.pl or speedscope."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit("bench: --profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    output = RESULTS_DIR / f"profile-{slug}.txt"
    log(f"profiling the service into {output}")
    return await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def same_answers(load: Load, service: processes.Server, ceiling: processes.Server) -> None:
    """The ceiling must do the same work: both must answer a read with the same document."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as client:
        answers = []
        for target in (service, ceiling):
            async with client.get(target.base_url + load.first_path) as response:
                response.raise_for_status()
                answers.append(await response.json())
    if answers[0] != answers[1]:
        raise RuntimeError(f"service and ceiling answer {load.first_path} differently")


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{model}, {os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GiB; "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


async def run(options: Options) -> Report:
    require_wrk()
    report = Report()
    RESULTS_DIR.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="scopelock-bench-"))
    log(f"machine: {machine()}")
    async with fresh_database(options.admin_url) as url:
        log(f"database: {url.rpartition('/')[2]}")
        telegram = Telegram()
        await telegram.start()
        secret = new_secret()
        service = processes.service(
            url, TOKEN, RESULTS_DIR, {**telegram.service_env(), **processes.citizens_env(workdir)}
        )
        service.env["WEBHOOK_SECRET"] = secret
        ceiling = processes.ceiling(url, RESULTS_DIR, telegram.ceiling_args())
        ceiling.env["BENCH_WEBHOOK_SECRET"] = secret
        try:
            await service.start(workdir)
            await ceiling.start(workdir)
            bench = Bench(url, options, service, ceiling, report, secret)
            await bench.event_queries()
            await bench.writes_and_reads()
            await bench.threads()
            await bench.stats()
            if bench.selected(WORKERS):
                report.workers = await measure_workers(options.admin_url, workdir, log)
            if bench.selected(NOTIFICATION):
                count = options.notifications
                # A card waits behind its chat's earlier ones: time it on an empty queue.
                await wait_until_delivered(url, CHAT_ID, DRAIN_TIMEOUT_S)
                report.notify_p50_ms, report.notify_p99_ms = await notification_latency(
                    service.base_url, TOKEN, telegram, count
                )
                (
                    report.ceiling_notify_p50_ms,
                    report.ceiling_notify_p99_ms,
                ) = await notification_latency(ceiling.base_url, TOKEN, telegram, count)
                log(f"{NOTIFICATION}: p50 {report.notify_p50_ms:.1f} ms")
            report.peak_rss_mb = service.peak_rss_mb()
        finally:
            await service.stop()
            await ceiling.stop()
            await telegram.stop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"{stamp}.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report
