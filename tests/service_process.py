"""The real service as a child process: a free loopback port, its own working directory,
stderr captured to a file, and helpers to wait for it, call it and stop it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
# "2026-11-25 23:49:56,374 INFO bot.service: …"
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def venv_bin(name: str, python: str = sys.executable) -> Path:
    """A console script installed next to `python` (the `scopelock` command, for one)."""
    path = Path(python).parent / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project first (pip install -e '.[dev]')")
    return path


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment (already stripped of service variables) plus overrides."""
    return {**os.environ, **overrides}


class ServiceProcess:
    """One run of the service; `stderr` holds everything it logged."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], port: int) -> None:
        self.argv, self.cwd, self.env, self.port = argv, cwd, env, port
        self.stderr_path = cwd / f"service-{port}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def log_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line]

    def start(self) -> ServiceProcess:
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    def wait_healthy(self) -> dict[str, Any]:
        """Poll GET /health until it answers; fail with the service's stderr if it never does."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the service exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                status, body = self.request("GET", "/health")
            except OSError:
                time.sleep(0.1)
                continue
            assert status == 200, body
            return body
        self.kill()
        pytest.fail(f"the service did not answer /health in {START_TIMEOUT_S}s:\n{self.stderr}")

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum` and wait (bounded) for the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the service ignored signal {signum} for {STOP_TIMEOUT_S}s")

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)


def run_once(
    argv: list[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a command that is expected to exit by itself (bad settings, `scopelock migrate`)."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
