"""The session-wide secret guard (tests/secret_guard.py) does see a leak where it looks."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
from aiohttp import web

from tests.secret_guard import SecretGuard, installed

pytestmark = pytest.mark.reliability


async def test_the_secret_guard_sees_a_leak_in_a_log_an_answer_and_child_output(
    aiohttp_client: Any,
) -> None:
    probe = "probe-secret-6a0e1f"  # known to this guard only, so the session's stays quiet
    guard = SecretGuard()
    guard.register("API_TOKEN", probe)
    with installed(guard) as handler:
        logger = logging.getLogger("tests.guard_probe")
        logger.addHandler(handler)
        try:
            logger.warning("the token is %s", probe)
        finally:
            logger.removeHandler(handler)

        async def leak(request: web.Request) -> web.Response:
            return web.json_response({"error": {"message": f"bad token {probe}"}})

        app = web.Application()
        app.router.add_get("/leak", leak)
        client = await aiohttp_client(app)
        await (await client.get("/leak")).text()
        subprocess.run(
            [sys.executable, "-c", f"import sys; print('{probe}', file=sys.stderr)"],
            capture_output=True,
            check=True,
        )
    found = guard.take_findings()
    assert len(found) == 3 and all(probe not in finding for finding in found), found
    assert [f.split(" in ")[1].split()[1] for f in found] == ["log", "answer", "output"]
