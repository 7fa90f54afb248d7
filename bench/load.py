"""The load generator: `wrk` in its own process, one Lua script for every scenario."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).parent / "wrk" / "request.lua"
INSTALL_HINT = "wrk is not installed: run `apt-get update && apt-get install -y wrk`"
CONNECTIONS = 32
# One wrk thread keeps the load generator to about one core's share of the machine.
THREADS = 1
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True)
class Load:
    """What one scenario sends: a fixed JSON body, or GET paths taken in turn."""

    method: str
    body: bytes | None = None
    paths: tuple[str, ...] = ()
    connections: int = CONNECTIONS
    """Requests in flight at once."""
    signed: Callable[[int], str] | None = None
    """Makes the signed requests for a run of `n` seconds, one per line (`path TAB signature
    TAB body`), each sent once: a fresh set for every run, more than it can take."""

    @property
    def first_path(self) -> str:
        return self.paths[0]


@dataclass(frozen=True)
class Run:
    """One wrk run's numbers."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(f"bench: {INSTALL_HINT}")
    return path


async def run_wrk(base_url: str, load: Load, *, token: str, seconds: int, path: str) -> Run:
    """Drive `base_url` for `seconds` with the load's connections; `path` is the URL path
    wrk is pointed at (a GET load replaces it request by request)."""
    with tempfile.TemporaryDirectory(prefix="scopelock-wrk-") as tmp:
        env = {**os.environ, "BENCH_METHOD": load.method, "BENCH_TOKEN": token}
        env["BENCH_RESULT"] = result = os.path.join(tmp, "result.json")
        if load.body is not None:
            env["BENCH_BODY_FILE"] = os.path.join(tmp, "body.json")
            Path(env["BENCH_BODY_FILE"]).write_bytes(load.body)
        if load.signed is not None:
            env["BENCH_SIGNED_FILE"] = os.path.join(tmp, "signed.txt")
            Path(env["BENCH_SIGNED_FILE"]).write_text(load.signed(seconds))
        if load.paths:
            env["BENCH_PATHS_FILE"] = os.path.join(tmp, "paths.txt")
            Path(env["BENCH_PATHS_FILE"]).write_text("\n".join(load.paths) + "\n")
        process = await asyncio.create_subprocess_exec(
            require_wrk(),
            f"-t{THREADS}",
            f"-c{load.connections}",
            f"-d{seconds}s",
            f"--timeout={REQUEST_TIMEOUT_S}s",
            "-s",
            str(SCRIPT),
            base_url + path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), seconds + 60)
        if process.returncode != 0 or not os.path.exists(result):
            raise RuntimeError(f"wrk failed ({process.returncode}): {output.decode()[-500:]}")
        numbers = json.loads(Path(result).read_text())
    errors = sum(numbers[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Run(
        requests=numbers["requests"],
        seconds=numbers["duration_us"] / 1e6,
        p50_ms=numbers["p50_us"] / 1000,
        p99_ms=numbers["p99_us"] / 1000,
        errors=errors,
    )
