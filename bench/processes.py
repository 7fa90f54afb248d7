"""The processes under test: the service (`python -m bot`) and the ceiling, each on its port."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
SERVICE_ENV = frozenset(name.upper() for name in Settings.model_fields)
STOP_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server subprocess on 127.0.0.1:`port`, its output kept in `log_path`."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, workdir: Path) -> None:
        # Only what the bench sets reaches the service: not the machine's own settings.
        inherited = {k: v for k, v in os.environ.items() if k.upper() not in SERVICE_ENV}
        env = {**inherited, "PYTHONPATH": str(REPO), **self.env}
        with self.log_path.open("wb") as log:
            # The working directory is empty, so no stray `.env` changes the settings.
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, *self.args, cwd=workdir, env=env, stdout=log, stderr=log
            )
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession() as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    break
                try:
                    async with client.get(self.base_url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not become healthy; its log ends:\n{tail}")

    def peak_rss_mb(self) -> float:
        """The process's high-water mark of resident memory (VmHWM), in MB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("VmHWM not found in /proc status")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def service(database_url: str, token: str, log_dir: Path, extra_env: dict[str, str]) -> Server:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "API_TOKEN": token,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
        **extra_env,
    }
    argv = [sys.executable, "-m", "bot"]
    return Server("service", argv, port, log_dir / "service.log", env)


def citizens_env(workdir: Path) -> dict[str, str]:
    """Rafael exists (the webhook queues its sessions), but nothing is ever launched: the CLI
    is `true`, and the bench holds the citizen busy (bench.threads_seed.hold_citizen_runner)."""
    folder = workdir / "citizens" / "rafael"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CLAUDE.md").write_text("# Rafael (bench)\n")
    claude = shutil.which("true") or "true"
    return {"CITIZENS_DIR": str(workdir / "citizens"), "CLAUDE_BIN": claude}


def ceiling(database_url: str, log_dir: Path, extra_args: list[str]) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling", "--port", str(port), "--dsn", database_url]
    return Server("ceiling", argv, port, log_dir / "ceiling.log", args=extra_args)
