"""One conversation per thread, and what the CLI's JSON result says (CONTRACT §7)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens import transcripts
from storage.models import CitizenSession, Conversation
from storage.repo import conversations
from tests.citizens_support import (
    FakeClaude,
    enqueue_session,
    flag,
    forget_stored_conversations,
    make_thread,
    session_events,
    wait_finished,
)

pytestmark = pytest.mark.usefixtures("citizens_home")

Db = async_sessionmaker[AsyncSession]


@pytest.fixture
def runner_settings(make_settings: Callable[..., Settings], fake_claude: FakeClaude) -> Settings:
    return make_settings(claude_bin=str(fake_claude.bin), citizen_timeout_s=30)


async def run(db: Db, citizen: str, prompt: str = "Reply.", **fields: Any) -> Any:
    return await wait_finished(db, await enqueue_session(db, citizen, prompt, **fields))


async def test_a_thread_resumes_its_conversation_and_clients_never_share_one(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    ada, bob = await make_thread(db, "Ada"), await make_thread(db, "Bob")

    ada_first = await run(db, "rafael", thread_id=ada)
    bob_first = await run(db, "rafael", thread_id=bob)
    ada_second = await run(db, "rafael", thread_id=ada)
    emma_on_ada = await run(db, "emma", thread_id=ada)
    no_thread = await run(db, "rafael")

    calls = fake_claude.calls()
    assert [flag(c, "--resume") for c in calls] == [
        None,
        None,
        ada_first.claude_session_id,
        None,
        None,
    ]
    new_ids = [flag(c, "--session-id") for c in calls]
    assert new_ids[2] is None
    started = [i for i in new_ids if i is not None]
    assert len(set(started)) == 4 and all(str(uuid.UUID(i)) == i for i in started)
    assert ada_first.claude_session_id == new_ids[0]
    assert bob_first.claude_session_id == new_ids[1] != ada_first.claude_session_id
    assert ada_second.claude_session_id == ada_first.claude_session_id
    assert emma_on_ada.claude_session_id == new_ids[3]  # another citizen: its own conversation
    assert no_thread.claude_session_id == new_ids[4]
    assert all(c["argv"].count("--continue") == 0 for c in calls)
    assert [c["env"].get("SCOPELOCK_THREAD_ID") for c in calls] == [ada, bob, ada, ada, None]
    for row in (ada_first, bob_first, ada_second, emma_on_ada, no_thread):
        assert row.status == "completed", row.error


async def test_a_lost_conversation_runs_once_more_as_a_new_one_that_reads_the_thread(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    thread = await make_thread(db)
    first = await run(db, "rafael", "The client wrote.", thread_id=thread)
    # A conversation from before the database kept them, on a machine redeployed since.
    fake_claude.forget_conversations()
    await forget_stored_conversations(db)

    second = await run(db, "rafael", "The client wrote again.", thread_id=thread)
    third = await run(db, "rafael", "And again.", thread_id=thread)

    fresh, resumed = fake_claude.calls()[1:]
    [lost] = fake_claude.refusals()
    assert flag(lost, "--resume") == first.claude_session_id
    assert "No conversation found" in lost["error"]
    assert flag(fresh, "--resume") is None
    assert "get_thread" in fresh["argv"][1] and fresh["argv"][1].endswith(
        "The client wrote again."
    )
    assert second.status == "completed", second.error
    assert second.claude_session_id == flag(fresh, "--session-id") != first.claude_session_id
    assert flag(resumed, "--resume") == second.claude_session_id
    assert third.status == "completed"


async def test_a_lost_conversation_is_retried_only_once(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    thread = await make_thread(db)
    await run(db, "rafael", thread_id=thread)
    fake_claude.forget_conversations()
    await forget_stored_conversations(db)

    row = await run(
        db, "rafael", "FAKE:result=No conversation found\nFAKE:is-error", thread_id=thread
    )

    # The first session, then the refused resume and one new start: no second retry.
    assert (len(fake_claude.calls()), len(fake_claude.refusals())) == (2, 1)
    assert row.status == "failed" and "No conversation found" in (row.error or "")


async def test_the_json_result_is_recorded_with_its_cost_turns_and_text(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    row = await run(db, "emma", "FAKE:cost=0.4321\nFAKE:result=Tracked 3 leads.")

    assert (row.status, row.exit_code, row.error) == ("completed", 0, None)
    assert (row.cost_usd, row.turns, row.result) == (0.4321, 1, "Tracked 3 leads.")
    completed = dict(await session_events(db, row.id))["citizen.session.completed@1.0"]
    assert completed["cost_usd"] == 0.4321


@pytest.mark.parametrize(
    ("directives", "said"),
    [
        (
            "FAKE:is-error\nFAKE:result=Not logged in · Please run /login\nFAKE:exit=1",
            "Not logged in · Please run /login",
        ),
        (
            "FAKE:is-error\nFAKE:subtype=error_max_budget_usd\nFAKE:result=\nFAKE:exit=1",
            "error_max_budget_usd",
        ),
        ("FAKE:is-error\nFAKE:result=It went wrong", "It went wrong"),
    ],
)
async def test_an_error_result_fails_the_session_with_its_text(
    db: Db, runner_settings: Settings, start_runner: Any, directives: str, said: str
) -> None:
    await start_runner(runner_settings)
    row = await run(db, "rafael", directives)

    assert row.status == "failed"
    assert said in (row.error or "")
    failed = dict(await session_events(db, row.id))["citizen.session.failed@1.0"]
    assert said in failed["error"]


async def test_output_that_is_no_json_result_fails_with_its_end(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    row = await run(db, "rafael", "FAKE:not-json")

    assert row.status == "failed" and row.exit_code == 0
    assert "no JSON result" in (row.error or "") and "fake claude done" in (row.error or "")
    assert row.claude_session_id is None and row.cost_usd is None


async def test_the_result_text_is_kept_bounded(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    await start_runner(runner_settings)
    row = await run(db, "rafael", "FAKE:result=" + "r" * 10_000)
    assert row.result == "r" * 4000


@pytest.mark.parametrize(("cap", "given"), [(2.0, "2"), (0.25, "0.25"), (None, None)])
async def test_the_per_session_cap_is_passed_as_max_budget_usd(
    db: Db,
    make_settings: Callable[..., Settings],
    fake_claude: FakeClaude,
    start_runner: Any,
    cap: float | None,
    given: str | None,
) -> None:
    settings = make_settings(claude_bin=str(fake_claude.bin), citizen_max_budget_usd=cap)
    await start_runner(settings)
    await run(db, "rafael")
    [call] = fake_claude.calls()
    assert flag(call, "--max-budget-usd") == given


async def test_enqueue_keeps_the_thread_lead_and_redrafted_draft(db: Db) -> None:
    thread = await make_thread(db)
    session_id = await enqueue_session(
        db, "emma", "Propose.", thread_id=thread, lead_id=7, draft_id="d" * 36
    )
    async with db() as session:
        row = await session.get(CitizenSession, session_id)
    assert row is not None
    assert (row.thread_id, row.lead_id, row.draft_id, row.status) == (
        thread,
        7,
        "d" * 36,
        "queued",
    )


async def stored_transcript(db: Db, claude_session_id: str | None) -> Conversation | None:
    async with db() as session:
        return await session.get(Conversation, claude_session_id)


async def test_a_conversation_is_kept_in_the_database_and_resumed_on_another_machine(
    db: Db,
    runner_settings: Settings,
    fake_claude: FakeClaude,
    start_runner: Any,
    citizens_home: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start_runner(runner_settings)
    thread = await make_thread(db)
    first = await run(db, "rafael", "Ada asked about the MARKER-7f3 budget.", thread_id=thread)
    stored = await stored_transcript(db, first.claude_session_id)
    assert stored is not None and stored.transcript is not None and stored.citizen == "rafael"
    folder = citizens_home / "rafael"
    local = transcripts.read(dict(os.environ), folder, first.claude_session_id or "")
    assert zlib.decompress(stored.transcript) == local
    # Another machine: the CLI's folder holds nothing of this conversation.
    fake_claude.forget_conversations()

    second = await run(db, "rafael", "Ada wrote again.", thread_id=thread)

    assert fake_claude.refusals() == []
    resumed = fake_claude.calls()[1]
    assert flag(resumed, "--resume") == first.claude_session_id
    assert resumed["argv"][1] == "Ada wrote again."  # no fallback prompt
    assert second.status == "completed", second.error
    assert fake_claude.conversation(folder, first.claude_session_id or "") == [
        "Ada asked about the MARKER-7f3 budget.",
        "Ada wrote again.",
    ]
    again = await stored_transcript(db, first.claude_session_id)
    assert again is not None and again.transcript is not None
    assert b"Ada wrote again." in zlib.decompress(again.transcript)
    assert "MARKER-7f3" not in caplog.text  # a transcript is never logged


async def test_a_conversation_over_the_limit_starts_anew_reading_the_thread(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(runner_settings, transcript_max_bytes=10)
    thread = await make_thread(db)
    first = await run(db, "rafael", "A long first conversation.", thread_id=thread)
    stored = await stored_transcript(db, first.claude_session_id)
    assert stored is not None and stored.transcript is None and stored.size_bytes > 10

    second = await run(db, "rafael", "The client wrote again.", thread_id=thread)

    fresh = fake_claude.calls()[1]
    assert fake_claude.refusals() == []
    assert flag(fresh, "--resume") is None and flag(fresh, "--session-id") is not None
    assert "get_thread" in fresh["argv"][1] and fresh["argv"][1].endswith(
        "The client wrote again."
    )
    assert second.status == "completed" and second.claude_session_id != first.claude_session_id


async def longest_pause(work: Awaitable[object]) -> float:
    """The longest the event loop went without running a 5 ms ticker while `work` ran."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        await work
    finally:
        done.set()
        await ticker
    return max(gaps)


async def test_a_large_transcript_is_packed_and_unpacked_off_the_event_loop(db: Db) -> None:
    """Packing megabytes held the event loop (every request and update waited) as long as
    zlib took; it runs in a thread now."""
    transcript = os.urandom(8 * 1024 * 1024).hex().encode()  # 16 MB that packs slowly
    started = time.perf_counter()
    zlib.compress(transcript, 6)
    packing = time.perf_counter() - started
    conversation = str(uuid.uuid4())

    async def store_and_load() -> None:
        async with db() as session, session.begin():
            assert await conversations.save(
                session=session,
                claude_session_id=conversation,
                citizen="rafael",
                transcript=transcript,
                max_bytes=len(transcript),
            )
        async with db() as session:
            stored = await conversations.load(session=session, claude_session_id=conversation)
        assert stored is not None and stored.transcript == transcript

    assert await longest_pause(store_and_load()) < packing / 2
