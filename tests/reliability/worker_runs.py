"""`scopelock worker` as a child process of a test, and a fresh PostgreSQL database for it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession

WORKER = [sys.executable, "-m", "bot", "worker"]
SETTLE_S = 60.0
Db = async_sessionmaker[AsyncSession]


class WorkerRun:
    """One `scopelock worker` process, logging to its own file."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str, **values: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"{name}.stderr"
        with self.log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                WORKER, cwd=workdir, env={**env, **values}, stderr=stderr, stdout=stderr
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def runs(self, row: CitizenSession) -> bool:
        return (row.claimed_by or "").split(":")[1:2] == [str(self.pid)]

    async def wait_logged(self, text: str) -> None:
        deadline = time.monotonic() + 30
        while text not in self.stderr:
            assert self.proc.poll() is None, f"the worker exited:\n{self.stderr}"
            assert time.monotonic() < deadline, f"never logged {text!r}:\n{self.stderr}"
            await asyncio.sleep(0.05)

    async def exit_code(self, timeout_s: float = 30) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def rows(db: Db) -> dict[str, CitizenSession]:
    async with db() as session:
        return {row.id: row for row in (await session.scalars(select(CitizenSession))).all()}


async def status_is(db: Db, session_id: str, status: str) -> CitizenSession | None:
    row = (await rows(db)).get(session_id)
    return row if row is not None and row.status == status else None
