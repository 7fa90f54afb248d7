"""The service as a child process driven from an async test.

The fake Telegram and the test's HTTP client live in the test's event loop, so nothing here
blocks it: the child is started, polled over HTTP, killed with SIGKILL (`kill -9`) and started
again on the same port and database. Each run logs to its own stderr file.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import API_TOKEN, TELEGRAM_TOKEN
from tests.service_process import ServiceProcess, clean_env
from tests.telegram_updates import OPERATOR_ID

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = [sys.executable, "-m", "tests.reliability.launch_service"]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def service_env(**values: str) -> dict[str, str]:
    """The child's environment: the test's (service variables stripped) plus `values`."""
    return clean_env(
        PYTHONPATH=str(REPO), PTB_TIMEDELTA="true", API_TOKEN=API_TOKEN, HOST="127.0.0.1", **values
    )


def bot_service_env(database_url: str, telegram_api: str, **values: str) -> dict[str, str]:
    """`service_env` with the bot on, talking to the fake Bot API at `telegram_api`."""
    return service_env(
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_CHAT_ID=str(OPERATOR_ID),
        TELEGRAM_API_BASE_URL=telegram_api,
        **values,
    )


class ServiceRun:
    """One service (one port, one database) across its starts, kills and restarts."""

    def __init__(self, env: dict[str, str], workdir: Path, port: int) -> None:
        self.env = {**env, "PORT": str(port)}
        self.workdir = workdir
        self.port = port
        self.runs: list[ServiceProcess] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def current(self) -> ServiceProcess:
        return self.runs[-1]

    @property
    def stderr(self) -> str:
        """What every run so far logged."""
        return "\n".join(run.stderr for run in self.runs if run.stderr_path.exists())

    def alive(self) -> bool:
        return (
            bool(self.runs) and self.current.proc is not None and self.current.proc.poll() is None
        )

    async def start(self, http: aiohttp.ClientSession, *, telegram: bool = True) -> None:
        """Start a run and wait until /health answers (and says Telegram is ok, if asked)."""
        cwd = self.workdir / f"run-{len(self.runs) + 1}"
        cwd.mkdir(parents=True)
        self.runs.append(ServiceProcess(LAUNCHER, cwd=cwd, env=self.env, port=self.port).start())
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the service exited at start:\n{self.current.stderr}")
            health = await self._health(http)
            if health is not None and (not telegram or health.get("telegram") == "ok"):
                return
            await asyncio.sleep(0.05)
        self.kill()
        raise AssertionError(f"the service did not start in {START_TIMEOUT_S}s:\n{self.stderr}")

    async def _health(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(f"{self.url}/health") as response:
                return dict(await response.json()) if response.status == 200 else None
        except aiohttp.ClientError:
            return None

    def kill(self) -> None:
        """`kill -9`: no signal handler, no shutdown, nothing flushed but what was committed."""
        process = self.current.proc if self.runs else None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)

    async def stop(self) -> int:
        """SIGTERM, then the exit code (bounded)."""
        process = self.current.proc
        assert process is not None
        process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)

    def close(self) -> None:
        self.kill()


async def post(
    http: aiohttp.ClientSession,
    url: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    """POST and read the answer; a connection error propagates (the request is unacknowledged)."""
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with http.post(url, headers=headers, **kwargs) as response:
        return response.status, await response.json(content_type=None)
