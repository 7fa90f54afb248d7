"""Fixtures and helpers for the citizen tests: the fake `claude`, citizen folders, a runner."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens.directory import PACKAGED_DIR
from citizens.notices import SessionNotices
from citizens.runner import SessionRunner
from storage.models import CitizenSession, Conversation, Event, OutboxMessage, Thread
from storage.repo import citizen_queue
from tests.polling import wait_until

FAKE_CLAUDE = Path(__file__).with_name("fake_claude.py")
CITIZENS = ("rafael", "emma", "daniel")


@dataclass
class FakeClaude:
    bin: Path
    log: Path

    def entries(self, phase: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [row for row in rows if phase is None or row["phase"] == phase]

    def calls(self) -> list[dict[str, Any]]:
        return self.entries("start")

    def ends(self) -> list[dict[str, Any]]:
        """How each call ended: its tool calls (`tools`) and JSON result (`result`)."""
        return self.entries("end")

    def refusals(self) -> list[dict[str, Any]]:
        """Calls refused like the real CLI refuses them (bad flags, unknown conversation)."""
        return self.entries("refused")

    def forget_conversations(self) -> None:
        """What a redeploy did to the CLI's transcripts before the database kept them: every
        local conversation is gone (the database's copies are `forget_stored_conversations`)."""
        state = Path(os.environ.get("CLAUDE_CONFIG_DIR") or self.log.parent)
        for conversation in (state / "projects").glob("*/*.jsonl"):
            conversation.unlink()

    def conversation(self, folder: Path, claude_session_id: str) -> list[str]:
        """The prompts of a conversation as the CLI keeps it locally."""
        state = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects"
        path = state / re.sub(r"[^A-Za-z0-9]", "-", str(folder.resolve()))
        lines = (path / f"{claude_session_id}.jsonl").read_text().splitlines()
        return [json.loads(line)["prompt"] for line in lines if "prompt" in line]


def flag(call: dict[str, Any], name: str) -> str | None:
    """The value of `name` in a recorded call's argv, or None when absent."""
    argv: list[str] = call["argv"]
    return argv[argv.index(name) + 1] if name in argv else None


async def forget_stored_conversations(db: async_sessionmaker[AsyncSession]) -> None:
    """Conversations the database never kept (they predate it keeping them)."""
    async with db() as session, session.begin():
        await session.execute(delete(Conversation))


async def make_thread(db: async_sessionmaker[AsyncSession], client: str = "Ada") -> str:
    async with db() as session, session.begin():
        thread = Thread(id=str(uuid.uuid4()), platform="upwork", client=client, job_title="A job")
        session.add(thread)
    return thread.id


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeClaude:
    """An executable `claude` that runs tests/fake_claude.py; used through CLAUDE_BIN."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "claude"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    wrapper.chmod(0o755)
    log = tmp_path / "fake-claude.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    # Its conversations (what `--resume` finds), where the real CLI keeps them; the runner
    # copies them to and from the database.
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-state"))
    return FakeClaude(bin=wrapper, log=log)


def make_citizens_dir(parent: Path) -> Path:
    """`parent/citizens` with rafael, emma and daniel in it, each with a CLAUDE.md and the
    packaged `.claude/settings.json` (the session's `--settings` names it)."""
    root = parent / "citizens"
    for name in CITIZENS:
        (root / name / ".claude").mkdir(parents=True)
        (root / name / "CLAUDE.md").write_text(f"# {name}\n")
        (root / name / ".claude" / "settings.json").write_bytes(
            (PACKAGED_DIR / name / ".claude" / "settings.json").read_bytes()
        )
    return root


@pytest.fixture
def citizens_home(tmp_path: Path) -> Path:
    """The test settings' CITIZENS_DIR."""
    return make_citizens_dir(tmp_path)


RunnerFactory = Callable[..., Awaitable[SessionRunner]]


@pytest.fixture
async def start_runner(
    db: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Callable[..., Awaitable[SessionRunner]]]:
    """Start runners on the test database; every one is stopped at the end of the test."""
    started: list[SessionRunner] = []

    async def start(
        settings: Settings,
        *,
        chat_id: int | None = None,
        telegram: bool = True,
        database: async_sessionmaker[AsyncSession] | None = None,
        **options: Any,
    ) -> SessionRunner:
        notices = SessionNotices(enabled=telegram, operator_chat=lambda: chat_id)
        options.setdefault("poll_interval_s", 0.2)
        runner = SessionRunner(settings, database or db, notices, **options)
        await runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        await runner.stop()


async def session_row(db: async_sessionmaker[AsyncSession], session_id: str) -> CitizenSession:
    async with db() as session:
        row = await session.get(CitizenSession, session_id)
    assert row is not None
    return row


async def wait_status(
    db: async_sessionmaker[AsyncSession], session_id: str, *statuses: str
) -> CitizenSession:
    async def check() -> CitizenSession | None:
        row = await session_row(db, session_id)
        return row if row.status in statuses else None

    return await wait_until(check, f"session {session_id} to be {'/'.join(statuses)}")


async def wait_finished(db: async_sessionmaker[AsyncSession], session_id: str) -> CitizenSession:
    return await wait_status(db, session_id, "completed", "failed")


async def session_events(
    db: async_sessionmaker[AsyncSession], session_id: str
) -> list[tuple[str, dict[str, Any]]]:
    async with db() as session:
        rows = (await session.scalars(select(Event).order_by(Event.id))).all()  # type: ignore[arg-type]
    return [(e.event, e.payload) for e in rows if e.payload.get("session_id") == session_id]


async def outbox_texts(db: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    """What the session notices queued for Telegram: (chat id, HTML text), oldest first."""
    async with db() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [(row.chat_id, row.text) for row in rows]


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def enqueue_session(
    db: async_sessionmaker[AsyncSession], citizen: str, prompt: str, **fields: Any
) -> str:
    """Queue a session (fields: thread_id, lead_id, draft_id, notify_chat_id); its id."""
    async with db() as session, session.begin():
        row = await citizen_queue.enqueue(
            session=session, citizen=citizen, trigger="test", prompt=prompt, **fields
        )
    return row.id
