"""Schemathesis against `/api/openapi.json`: every route, on PostgreSQL, with the bearer token.

The signed webhooks are served and fuzzed too, signed by a hook (see schemathesis_hooks.py).

The documented CLI drives a real server on loopback (its pytest plugin does not run under the
pytest this project uses). Its settings are in `schemathesis.toml`, its two project-specific
rules in `schemathesis_hooks.py`. On a failure the assertion message carries Schemathesis's
report, with a curl line for each failing case.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage.engine import create_engine, session_factory
from storage.models import CitizenSession
from storage.types import utcnow
from tests.citizens_support import make_citizens_dir
from tests.conftest import API_TOKEN, settings_for
from tests.databases import PostgresDatabases, run_sync
from tests.reliability.live_server import live_server
from tests.reliability.schemathesis_hooks import SECRET_VARIABLE
from web.webhooks import ENDPOINTS as WEBHOOK_ENDPOINTS

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

HERE = Path(__file__).parent
REPO = HERE.parents[1]
MAX_EXAMPLES = 75
RUN_TIMEOUT_S = 240
WEBHOOK_SECRET = "whsec-fuzz-0b5d2e"


async def seed_sessions(url: str) -> None:
    """A few citizen sessions, so `GET /api/session/{id}` is fuzzed on rows that exist."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for index, status in enumerate(("queued", "running", "completed", "failed")):
                done = status in ("completed", "failed")
                session.add(
                    CitizenSession(
                        id=str(uuid.uuid4()),
                        citizen="rafael",
                        trigger="manual",
                        prompt=f"seeded session {index}",
                        status=status,
                        exit_code=(0 if status == "completed" else 1) if done else None,
                        started_at=None if status == "queued" else utcnow(),
                        finished_at=utcnow() if done else None,
                    )
                )
    finally:
        await engine.dispose()


@pytest.fixture
def fuzz_settings(postgres_databases: PostgresDatabases, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a fresh PostgreSQL database of this test's own."""
    url = postgres_databases.new_database()
    citizens_dir = make_citizens_dir(tmp_path)
    yield settings_for(url, citizens_dir, webhook_secret=WEBHOOK_SECRET)
    postgres_databases.drop(url)


def test_every_route_answers_as_documented(
    fuzz_settings: Settings, tmp_path: Path, figures: Counter[str]
) -> None:
    run_sync(seed_sessions(fuzz_settings.database_url))
    with live_server(fuzz_settings, extra_endpoints=WEBHOOK_ENDPOINTS) as base_url:
        run = run_schemathesis(base_url, tmp_path)
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"Schemathesis found failures:\n{report[-20000:]}"
    operations = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", report)
    generated = re.search(r"(\d+) generated", report)
    assert operations is not None and generated is not None, report[-3000:]
    selected, total, tested = map(int, operations.groups())
    assert selected == total == tested >= 14, "every documented route is fuzzed"
    figures["schema fuzzing: operations fuzzed"] += tested
    figures["schema fuzzing: requests generated"] += int(generated.group(1))


def run_schemathesis(base_url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{base_url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {API_TOKEN}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--no-color",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SCHEMATHESIS_HOOKS": "tests.reliability.schemathesis_hooks",
        SECRET_VARIABLE: WEBHOOK_SECRET,
    }
    return subprocess.run(
        command,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
