"""One bench run: a fresh database, the service and its ceiling side by side, every scenario in
alternating rounds, then the table and the targets."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench import processes
from bench.database import EVENT_INTERVAL, fresh_database, seed_events
from bench.load import Load, require_wrk, run_wrk
from bench.report import Report, Result
from bench.scenarios import (
    Scenario,
    event_query_scenarios,
    read_draft_scenario,
    write_scenarios,
)

TOKEN = "bench-api-token-3c1d0e"
RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Options:
    admin_url: str
    sizes: tuple[int, ...]
    rounds: int
    seconds: int
    warmup_seconds: int


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def measure(
    scenario: Scenario, service: processes.Server, ceiling: processes.Server, options: Options
) -> Result:
    """Warm both up, then alternate them round by round so drift hits both alike."""
    result = Result(scenario.label, scenario.name, scenario.events)
    sides = {service.name: result.service, ceiling.name: result.ceiling}
    path = scenario.load.first_path if scenario.load.paths else scenario.name.split()[1]
    for target in (service, ceiling):
        await run_wrk(
            target.base_url, scenario.load, token=TOKEN, seconds=options.warmup_seconds, path=path
        )
    for round_no in range(options.rounds):
        order = (service, ceiling) if round_no % 2 == 0 else (ceiling, service)
        for target in order:
            run = await run_wrk(
                target.base_url, scenario.load, token=TOKEN, seconds=options.seconds, path=path
            )
            sides[target.name].runs.append(run)
    log(
        f"{scenario.label}: service {result.service.rps:.0f} req/s, "
        f"ceiling {result.ceiling.rps:.0f} req/s ({result.ratio:.0%}), "
        f"errors {result.service.errors + result.ceiling.errors}"
    )
    return result


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
        service = processes.service(url, TOKEN, RESULTS_DIR, {})
        ceiling = processes.ceiling(url, RESULTS_DIR)
        await service.start(workdir)
        await ceiling.start(workdir)
        try:
            # The seeded log ends a little before now, so events logged later are the newest.
            origin = datetime.now(UTC) - EVENT_INTERVAL * max(options.sizes) - timedelta(hours=1)
            for size in options.sizes:
                started = time.monotonic()
                added = await seed_events(url, size, origin=origin)
                log(f"seeded {added} events (now {size}) in {time.monotonic() - started:.1f} s")
                for scenario in await event_query_scenarios(url, size):
                    await same_answers(scenario.load, service, ceiling)
                    report.results.append(await measure(scenario, service, ceiling, options))
            for scenario in write_scenarios():
                report.results.append(await measure(scenario, service, ceiling, options))
            scenario = await read_draft_scenario(url)
            await same_answers(scenario.load, service, ceiling)
            report.results.append(await measure(scenario, service, ceiling, options))
            report.notify_note = "not measured: the fake Bot API is not there yet"
            report.peak_rss_mb = service.peak_rss_mb()
        finally:
            await service.stop()
            await ceiling.stop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"{stamp}.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report
