"""A thread's conversation follows it from one worker to another, with the real Claude Code CLI
and the scripted model (CONTRACT §13): the transcript is stored in the database after the first
session and written back, on a machine that never saw it, before the second one's `--resume`.

This also pins where the pinned CLI keeps a transcript (citizens/transcripts.py): a CLI upgrade
that moves it fails here.
"""

from __future__ import annotations

import signal
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from citizens import transcripts
from storage.models import Conversation
from storage.repo import citizen_queue
from tests.citizens_support import make_thread
from tests.fake_anthropic import API_KEY, FakeAnthropic, reply
from tests.polling import wait_until
from tests.real_cli_support import copy_citizens, real_claude
from tests.reliability.service_runs import service_env
from tests.reliability.worker_runs import SETTLE_S, WorkerRun, status_is
from tests.service_process import free_port

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(240)]

FIRST = "The client Ada says her budget is PINEAPPLE-4417 euros. Remember it."
SECOND = "Ada wrote again: what budget did she give?"
Db = async_sessionmaker[AsyncSession]


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.stop()


async def enqueue(workers_db: Db, thread_id: str, prompt: str) -> str:
    async with workers_db() as session, session.begin():
        row = await citizen_queue.enqueue(
            session=session, citizen="rafael", trigger="test", prompt=prompt, thread_id=thread_id
        )
    return row.id


async def test_a_threads_second_session_resumes_on_another_worker_from_the_database(
    workers_db: Db, workers_postgres_url: str, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    citizens = copy_citizens(tmp_path)
    homes = {name: tmp_path / f"home-{name}" for name in ("a", "b")}

    def worker(name: str) -> WorkerRun:
        (homes[name] / ".claude").mkdir(parents=True, exist_ok=True)
        env = service_env(
            DATABASE_URL=workers_postgres_url,
            CLAUDE_BIN=real_claude(),
            CITIZENS_DIR=str(citizens),
            BACKEND_API_URL=f"127.0.0.1:{free_port()}",  # no tool is called
            **{k: v for k, v in fake_anthropic.cli_env(homes[name]).items() if k != "PATH"},
        )
        assert env["ANTHROPIC_API_KEY"] == API_KEY
        return WorkerRun(env, tmp_path / name, name)

    fake_anthropic.script(reply("Noted: PINEAPPLE-4417."), reply("She said PINEAPPLE-4417."))
    first_worker = worker("a")
    try:
        await first_worker.wait_logged("running up to")  # it has migrated the database
        thread = await make_thread(workers_db, "Ada")
        first_id = await enqueue(workers_db, thread, FIRST)
        first = await wait_until(
            lambda: status_is(workers_db, first_id, "completed"), "the first session", SETTLE_S
        )
    finally:
        first_worker.proc.send_signal(signal.SIGTERM)
        assert await first_worker.exit_code() == 0, first_worker.stderr
    assert first_worker.runs(first) and first.claude_session_id
    # Where the pinned CLI keeps the conversation, and what the database holds of it.
    env_a = {"CLAUDE_CONFIG_DIR": str(homes["a"] / ".claude")}
    pinned = transcripts.path_of(env_a, citizens / "rafael", first.claude_session_id)
    assert pinned.is_file(), sorted(str(p) for p in (homes["a"] / ".claude").rglob("*.jsonl"))
    async with workers_db() as session:
        stored = await session.get(Conversation, first.claude_session_id)
    assert stored is not None and stored.transcript is not None
    assert zlib.decompress(stored.transcript) == pinned.read_bytes()

    second_worker = worker("b")  # another HOME and CLAUDE_CONFIG_DIR: it never saw the thread
    try:
        await second_worker.wait_logged("running up to")
        assert not list((homes["b"] / ".claude").rglob("*.jsonl"))
        second_id = await enqueue(workers_db, thread, SECOND)
        second = await wait_until(
            lambda: status_is(workers_db, second_id, "completed"), "the second session", SETTLE_S
        )
    finally:
        second_worker.proc.send_signal(signal.SIGTERM)
        assert await second_worker.exit_code() == 0, second_worker.stderr

    assert second_worker.runs(second)
    assert second.claude_session_id == first.claude_session_id  # resumed, not started anew
    last = fake_anthropic.turns()[-1].text
    assert FIRST in last and "Noted: PINEAPPLE-4417." in last and SECOND in last
    assert not fake_anthropic.saw("no longer available")  # no lost-conversation fallback
    assert "PINEAPPLE" not in first_worker.stderr + second_worker.stderr  # never logged
