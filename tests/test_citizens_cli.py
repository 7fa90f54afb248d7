"""`scopelock sign` and `scopelock trigger`, run as the operator runs them."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from storage.models import CitizenSession
from web.app import create_app
from web.keys import RUNNER
from web.signatures import sign, sign_standard
from web.webhooks import ENDPOINTS

SECRET = "cli-secret-0c3e"
SCOPELOCK = [sys.executable, "-c", "from bot.cli import main; main()"]


def cli_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "WEBHOOK_SECRET": SECRET, **extra}


def run_cli(*args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SCOPELOCK, *args],
        input=stdin,
        env=cli_env(**env),
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("body", [b'{"message": "hi"}', b'{"message": "hi"}\n', "é\x00".encode()])
def test_sign_prints_the_signature_of_stdin_exactly(body: bytes) -> None:
    result = run_cli("sign", stdin=body)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == sign(SECRET, body) + "\n"
    openssl = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET, "-r"],
        input=body,
        capture_output=True,
        check=True,
    )
    assert openssl.stdout.decode().split()[0] == sign(SECRET, body)


def test_sign_with_a_timestamp_prints_both_headers() -> None:
    result = run_cli("sign", "--timestamp", "1764100000", stdin=b"{}")
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [
        "X-Webhook-Timestamp: 1764100000",
        f"X-Webhook-Signature: {sign(SECRET, b'{}', '1764100000')}",
    ]
    now = run_cli("sign", "--timestamp", stdin=b"{}").stdout.decode().splitlines()
    timestamp = now[0].removeprefix("X-Webhook-Timestamp: ")
    assert now[1] == f"X-Webhook-Signature: {sign(SECRET, b'{}', timestamp)}"


def test_sign_with_an_id_prints_the_standard_webhooks_headers() -> None:
    result = run_cli("sign", "--id", "msg_7", "--timestamp", "1764100000", stdin=b"{}")
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [
        "webhook-id: msg_7",
        "webhook-timestamp: 1764100000",
        f"webhook-signature: {sign_standard(SECRET, 'msg_7', '1764100000', b'{}')}",
    ]


def test_sign_without_a_secret_says_so() -> None:
    result = run_cli("sign", stdin=b"{}", WEBHOOK_SECRET="")
    assert result.returncode == 2
    assert b"WEBHOOK_SECRET is not set" in result.stderr and result.stdout == b""


@pytest.fixture
async def live_service(
    aiohttp_client: Any, make_settings: Any, engine: AsyncEngine, citizens_home: Any
) -> str:
    """The web app with the signed webhooks on a loopback port; returns its base URL."""

    class Waker:
        def wake(self) -> None:
            return None

    settings: Settings = make_settings(webhook_secret=SECRET)
    app = create_app(settings, engine, extra_endpoints=ENDPOINTS)
    app[RUNNER] = Waker()
    client = await aiohttp_client(app)
    return str(client.make_url("")).rstrip("/")


async def trigger(base_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *SCOPELOCK,
        "trigger",
        *args,
        env=cli_env(BACKEND_API_URL=base_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_trigger_queues_a_session_through_the_running_service(
    live_service: str, db: async_sessionmaker[AsyncSession]
) -> None:
    first = await trigger(live_service, "emma", "--", "--scan", "new leads")
    again = await trigger(live_service, "emma", "--", "--scan", "new leads")

    assert first[0] == 0 and again[0] == 0, first[2] + again[2]
    async with db() as session:
        rows = (await session.scalars(select(CitizenSession))).all()
    assert {f"queued session {row.id} of emma\n" for row in rows} == {first[1], again[1]}
    # The trigger text is outside text: fenced, never at the start where it could pass for a flag.
    assert all(
        re.search(r">>>\n--scan new leads\n<<<END TRIGGER MESSAGE", row.prompt) for row in rows
    )
    assert not any(row.prompt.startswith("-") for row in rows)


async def test_trigger_reports_an_unknown_citizen(live_service: str) -> None:
    code, out, err = await trigger(live_service, "nobody", "hello")
    assert code == 1 and out == ""
    assert "404" in err and "No citizen 'nobody'" in err


async def test_trigger_reports_a_service_that_is_not_running(unused_tcp_port: int) -> None:
    code, _, err = await trigger(f"http://127.0.0.1:{unused_tcp_port}", "emma", "hello")
    assert code == 1 and "is it running?" in err
