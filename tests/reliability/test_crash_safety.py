"""`kill -9` at seeded random points of a mixed workload, then a restart, several times.

The service runs as a child process (polling the fake Telegram, running the fake claude)
while tests/reliability/crash_workload.py drives drafts, events, leads, signed webhooks,
approvals, rejections and edits in three lanes; after a seeded number of acknowledgements
the process is killed with SIGKILL, whatever is in flight. After the last restart the test
waits for the outbox to drain and the session queue to empty, stops the service cleanly, and
checks: nothing acknowledged is lost; sessions that were running at a kill were failed; those
that were queued ran; no session ran twice; every draft's card reached Telegram.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from storage.engine import create_engine, session_factory
from tests.citizens_support import FakeClaude
from tests.fake_telegram import FakeTelegram
from tests.reliability.crash_checks import losses, read_back, sessions_in, settled
from tests.reliability.crash_workload import EDITED_CARD, WEBHOOK_SECRET, Ledger, Workload
from tests.reliability.service_runs import AUTH, ServiceRun, bot_service_env
from tests.reliability.telegram_faults import cards_in_order
from tests.service_process import free_port

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(150)]

SEED = 20261125
KILLS = 3
OPERATIONS = 24
"""Operations planned per run; each run is killed after 1 to 20 of them are acknowledged."""
FINAL_OPERATIONS = 12
DRAIN_TIMEOUT_S = 45.0


async def test_kill_9_at_random_points_loses_nothing_acknowledged(
    settings: Settings,
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    citizens_home: Path,
    tmp_path: Path,
    figures: Counter[str],
) -> None:
    env = bot_service_env(
        settings.database_url,
        fake_telegram.base_url,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        CLAUDE_BIN=str(fake_claude.bin),
        CITIZENS_DIR=str(citizens_home),
    )
    service = ServiceRun(env, tmp_path / "service", free_port())
    ledger, chooser = Ledger(), random.Random(SEED)
    running_at_kill: set[str] = set()
    queued_at_kill: set[str] = set()
    engine = create_engine(settings.database_url)
    db = session_factory(engine)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(headers=AUTH, timeout=timeout) as http:
        try:
            for run in range(KILLS):
                await service.start(http)
                workload = Workload(http, fake_telegram, ledger, seed=SEED + run)
                workload.alive = service.alive
                if run == 0:  # taps, an edit and a /trigger that must survive every kill
                    await workload.operate_in_chat(service.url)
                await workload.open_sessions(service.url)  # the kill finds them running, queued
                kill_after = ledger.acks + chooser.randint(1, OPERATIONS - 4)

                def kill_when_due(kill_after: int = kill_after) -> None:
                    if ledger.acks >= kill_after:
                        service.kill()

                workload.on_ack = kill_when_due
                await workload.run(service.url, OPERATIONS)
                service.kill()  # the plan may run out first (a decision needs a card)
                running_at_kill |= await sessions_in(db, "running")
                queued_at_kill |= await sessions_in(db, "queued")

            await service.start(http)
            final = Workload(http, fake_telegram, ledger, seed=SEED + KILLS)
            final.alive = service.alive
            await final.run(service.url, FINAL_OPERATIONS)
            await fake_telegram.wait_for(
                lambda: settled(db), timeout=DRAIN_TIMEOUT_S, what="outbox and queue to empty"
            )
            assert await service.stop() == 0
            stored = await read_back(db)
            log = service.stderr
        finally:
            service.close()
            await engine.dispose()

    failures = [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert not failures, failures[:3]
    cards = Counter(cards_in_order(fake_telegram))
    texts = {params.get("text", "") for params in fake_telegram.sent_messages()}
    # Acknowledged: the draft's edited card shows the text (not any message quoting it).
    cards_shown = [t for t in texts if t.startswith(EDITED_CARD)]
    edits_seen = {
        text for text in ledger.edits.values() if any(text in card for card in cards_shown)
    }
    lost = losses(ledger, stored, edits_seen)
    figures["crash safety: kill -9 survived"] += KILLS
    figures["crash safety: acknowledged writes checked"] += lost.checked
    figures["acknowledged writes lost"] += lost.count
    assert lost.found == {}, "acknowledged writes are missing after kill -9 and restart"
    assert running_at_kill and queued_at_kill, "the kills found no session running or queued"
    assert ledger.decisions and edits_seen, "the workload made no decision or edit"
    assert {row.trigger for row in stored.sessions.values()} >= {"telegram", "webhook"}

    # One decision per draft at most, and a decided draft has exactly its one event.
    decisions = stored.per_draft("draft.approved@1.0", "draft.rejected@1.0")
    assert max(decisions.values(), default=0) <= 1
    for draft in stored.drafts.values():
        assert (draft.status != "pending") == (decisions[draft.id] == 1), draft.id

    # Sessions: killed ones failed, queued ones ran afterwards, none ran twice.
    for session_id, row in stored.sessions.items():
        assert row.status in ("completed", "failed"), (session_id, row.status)
    for session_id in running_at_kill:
        row = stored.sessions[session_id]
        assert row.status == "failed" and "stopped before it finished" in (row.error or "")
    for session_id in queued_at_kill:
        assert stored.sessions[session_id].started_at is not None, session_id
    launches = Counter(
        call["env"]["SCOPELOCK_SESSION_ID"] for call in fake_claude.calls() if call.get("env")
    )
    assert max(launches.values()) == 1, launches.most_common(3)
    for session_id, row in stored.sessions.items():
        if row.status == "completed":
            assert launches[session_id] == 1, session_id

    # The outbox drained: every draft's cards arrived (edits add one), at most one twice a kill.
    edited = stored.per_draft("draft.edited@1.0")
    expected = Counter({draft_id: 1 + edited[draft_id] for draft_id in stored.drafts})
    assert not expected - cards, "a card never reached Telegram"
    assert sum((cards - expected).values()) <= KILLS
    assert all(row.status == "sent" for row in stored.outbox)
    assert all(draft.telegram_message_id for draft in stored.drafts.values())
    print(
        f"\ncrash safety: {KILLS} kills, {ledger.acks} acknowledged operations, "
        f"{lost.checked} writes checked, {lost.count} lost, "
        f"{len(running_at_kill)} sessions killed running, {len(queued_at_kill)} queued at a kill"
    )
