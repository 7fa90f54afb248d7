"""EXPLAIN ANALYZE of the event-log reads, at each size, with the statements the service runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg

from bench.database import FILTERED_EVENT, RARE_OLD_EVENT
from storage.hotpath import HotStatement
from storage.repo.events import EventFilter, page_statement

LIMIT = 101  # a page of 100, and one more to know whether there is a next page


async def explain_event_queries(url: str, size: int, results: Path) -> list[str]:
    """Write the plans to `results/plans-<size>.txt`; one summary line per query."""
    connection = await asyncpg.connect(url)
    try:
        low, high, newest = await connection.fetchrow(
            "SELECT min(id), max(id), max(timestamp) FROM events"
        )
        queries = {
            "event=": (EventFilter(name=FILTERED_EVENT), None),
            "event= (rare, old)": (EventFilter(name=RARE_OLD_EVENT), None),
            "since=": (EventFilter(since=newest - timedelta(days=1)), None),
            "cursor=": (EventFilter(), (low + high) // 2),
        }
        report, summary = [], []
        for name, (where, before_id) in queries.items():
            statement, params = page_statement(where, LIMIT, before_id)
            sql = HotStatement(statement)
            rows = await connection.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) {sql.postgres_sql}", *sql.postgres_args(params)
            )
            plan = [row[0] for row in rows]
            report += [f"-- {name} at {size} events", *plan, ""]
            scan = next(line.strip() for line in plan if "Scan" in line)
            summary.append(f"{name}: {scan.split('  (')[0]}; {plan[-1].strip()}")
    finally:
        await connection.close()
    (results / f"plans-{size}.txt").write_text("\n".join(report))
    return summary
