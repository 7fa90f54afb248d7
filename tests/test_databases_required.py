"""Under CI a PostgreSQL test never skips: without a server it fails (tests/databases.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# One PostgreSQL-parametrized test, pointed at a port where no server listens.
ONE_TEST = "tests/test_storage_engine.py::test_a_failed_statement_shows_no_parameter[postgresql]"
NO_SERVER = "postgresql://postgres@127.0.0.1:9/test"

pytestmark = pytest.mark.slow


def run_one(**env: str) -> tuple[int, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "SCOPELOCK_REQUIRE_POSTGRES", "PYTEST_ADDOPTS")
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ONE_TEST],
        cwd=REPO,
        env={**base, "SCOPELOCK_TEST_POSTGRES_URL": NO_SERVER, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("env", [{"CI": "true"}, {"SCOPELOCK_REQUIRE_POSTGRES": "1"}])
def test_under_ci_a_missing_postgresql_fails_the_test(env: dict[str, str]) -> None:
    status, summary = run_one(**env)
    # The fixture fails it: pytest counts that as an error, and the run fails.
    assert status == 1 and "1 error" in summary and "skipped" not in summary, summary


def test_elsewhere_a_missing_postgresql_skips_with_the_reason() -> None:
    status, summary = run_one()
    assert status == 0 and "1 skipped" in summary, summary
