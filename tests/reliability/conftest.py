"""Figures the reliability tests measure, printed together at the end of the run.

`pytest -m reliability` ends with a "reliability figures" section: what the README quotes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from storage.engine import create_engine, session_factory
from tests.databases import PostgresDatabases
from tests.reliability.worker_runs import Db

FIGURES: Counter[str] = Counter()


@pytest.fixture
def figures() -> Counter[str]:
    """Add to a named figure: `figures["requests sent during faults"] += n`."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def workers_postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    url = postgres_databases.new_database(migrated=False)
    yield url
    postgres_databases.drop(url)


@pytest.fixture
async def workers_db(workers_postgres_url: str) -> AsyncIterator[Db]:
    engine = create_engine(
        "postgresql+asyncpg://" + workers_postgres_url.removeprefix("postgresql://")
    )
    yield session_factory(engine)
    await engine.dispose()
