"""Two instances of the service on one PostgreSQL database, in webhook mode, as two processes.

Both start together (the migration takes turns), then share all the work: drafts posted to
either while Telegram fails now and then, sessions queued through either, and taps that
Telegram delivers to both (a retried webhook lands on the other instance). Every notification
is sent once and in order, every queued session runs once (one per citizen at a time), and
every draft is decided once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.engine import create_engine, session_factory
from storage.models import CitizenSession, Draft, Event
from tests.citizens_support import FakeClaude
from tests.databases import PostgresDatabases
from tests.fake_telegram import FakeTelegram
from tests.reliability.crash_workload import CITIZENS
from tests.reliability.service_runs import AUTH, ServiceRun, bot_service_env, post
from tests.reliability.telegram_faults import cards_in_order
from tests.service_process import free_port
from tests.signed_posts import signed_headers
from tests.telegram_updates import callback_query_update

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]

TELEGRAM_SECRET = "tg-hook-two-instances-5be19d"
WEBHOOK_SECRET = "whsec-two-instances-c03f7a"
DRAFTS = 30
SESSIONS = 12
TAPPED = 10
TAPS_PER_DRAFT = 4
SETTLE_TIMEOUT_S = 40.0


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh, empty PostgreSQL database: the two instances migrate it themselves."""
    url = postgres_databases.new_database(migrated=False)
    yield url
    postgres_databases.drop(url)


async def test_two_instances_send_each_card_once_run_each_session_once_decide_once(
    postgres_url: str,
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    citizens_home: Path,
    tmp_path: Path,
    figures: Counter[str],
) -> None:
    ports = [free_port(), free_port()]
    env = bot_service_env(
        postgres_url,
        fake_telegram.base_url,
        TELEGRAM_MODE="webhook",
        # Behind one public URL in production; here Telegram's own deliveries go to the first.
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{ports[0]}/webhook/telegram",
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        CLAUDE_BIN=str(fake_claude.bin),
        CITIZENS_DIR=str(citizens_home),
    )
    services = [ServiceRun(env, tmp_path / f"instance-{n}", port) for n, port in enumerate(ports)]
    engine = create_engine("postgresql+asyncpg://" + postgres_url.removeprefix("postgresql://"))
    db = session_factory(engine)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        try:
            await asyncio.gather(*(service.start(http) for service in services))
            drafts = await post_drafts_through_failures(http, services, fake_telegram)
            sessions = await queue_sessions(http, services)
            await fake_telegram.wait_for(
                lambda: len(cards_in_order(fake_telegram)) >= DRAFTS, what="every card"
            )
            answers = await tap_on_both(http, services, fake_telegram, drafts[:TAPPED])

            async def settled() -> bool:
                async with db() as session:
                    rows = (await session.scalars(select(CitizenSession))).all()
                return all(row.status in ("completed", "failed") for row in rows)

            await fake_telegram.wait_for(settled, timeout=SETTLE_TIMEOUT_S, what="sessions")
            # Every copy stays true: no card keeps live buttons for a decided draft, whichever
            # instance decided it and whichever sends the edits.
            await fake_telegram.wait_for(
                lambda: not live_buttons(fake_telegram, drafts[:TAPPED]),
                timeout=SETTLE_TIMEOUT_S,
                what="every decided card without its decision buttons",
            )
            assert [await service.stop() for service in services] == [0, 0]
            async with db() as session:
                stored = {row.id: row for row in (await session.scalars(select(Draft))).all()}
                events = (await session.scalars(select(Event))).all()
                runs = {row.id: row for row in (await session.scalars(select(CitizenSession)))}
        finally:
            for service in services:
                service.close()
            await engine.dispose()

    # Every card once, in the order the drafts were acknowledged (whichever instance took them).
    assert cards_in_order(fake_telegram) == drafts
    assert all(stored[d].telegram_message_id for d in drafts)

    # Every queued session ran once, and never two of one citizen at the same time.
    assert set(runs) == set(sessions) and all(r.status == "completed" for r in runs.values())
    launches = Counter(call["env"]["SCOPELOCK_SESSION_ID"] for call in fake_claude.calls())
    assert launches == Counter(sessions)
    assert_one_session_per_citizen_at_a_time(fake_claude)

    # Every tap answered; every tapped draft decided once, with its one event.
    assert all(answers.values()), [tap for tap, answered in answers.items() if not answered]
    decided = Counter(
        e.payload["draft_id"]
        for e in events
        if e.event in ("draft.approved@1.0", "draft.rejected@1.0")
    )
    assert decided == Counter(drafts[:TAPPED])
    for draft_id in drafts[:TAPPED]:
        assert stored[draft_id].status in ("approved", "rejected")
    figures["two instances: notifications sent once"] += DRAFTS
    figures["two instances: sessions run once"] += SESSIONS
    figures["two instances: taps decided once"] += len(answers)


async def post_drafts_through_failures(
    http: aiohttp.ClientSession, services: list[ServiceRun], fake: FakeTelegram
) -> list[str]:
    """Drafts to either instance in turn, one after another, while Telegram fails at times."""
    created: list[str] = []
    for n in range(DRAFTS):
        if n % 7 == 0:
            fake.fail_next("sendMessage", 500, times=2)
        if n == 15:
            fake.fail_next("sendMessage", 429, retry_after=1)
        body = {
            "client": f"Client {n}",
            "job_title": "Shared work",
            "message": "Hello",
            "draft_text": f"Reply {n}",
            "confidence": 70,
        }
        status, answer = await post(http, f"{services[n % 2].url}/api/draft/create", body)
        assert status == 201, answer
        created.append(answer["draft_id"])
    return created


async def queue_sessions(http: aiohttp.ClientSession, services: list[ServiceRun]) -> list[str]:
    """Triggers through both instances at once, for every citizen."""

    async def trigger(n: int) -> str:
        raw = json.dumps({"message": f"Shared task {n}\nFAKE:sleep=0.2"}).encode()
        headers = signed_headers(WEBHOOK_SECRET, raw, **{"X-Webhook-Id": f"two-instances-{n}"})
        url = f"{services[n % 2].url}/webhook/trigger/{CITIZENS[n % len(CITIZENS)]}"
        status, answer = await post(http, url, None, headers=headers, data=raw)
        assert status == 202, answer
        return str(answer["session_id"])

    return list(await asyncio.gather(*(trigger(n) for n in range(SESSIONS))))


async def tap_on_both(
    http: aiohttp.ClientSession, services: list[ServiceRun], fake: FakeTelegram, drafts: list[str]
) -> dict[str, bool]:
    """Approve and reject taps on each draft, every one delivered to both instances at once."""
    cards = {d: m for (_, m), msg in fake.messages.items() for d in drafts if d in msg["text"]}
    actions = itertools.cycle(["approve", "reject"])
    updates = [
        callback_query_update(f"{next(actions)}:{draft_id}", message_id=cards[draft_id])
        for draft_id in drafts
        for _ in range(TAPS_PER_DRAFT)
    ]
    for number, update in enumerate(updates, start=10_000):
        update["update_id"] = number
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}

    async def deliver(service: ServiceRun, update: dict[str, Any]) -> None:
        status, answer = await post(
            http, f"{service.url}/webhook/telegram", update, headers=headers
        )
        assert status == 200, answer

    await asyncio.gather(*(deliver(s, update) for update in updates for s in services))
    answered = {c.params.get("callback_query_id") for c in fake.calls_to("answerCallbackQuery")}
    return {
        update["callback_query"]["id"]: update["callback_query"]["id"] in answered
        for update in updates
    }


def live_buttons(fake: FakeTelegram, drafts: list[str]) -> list[str]:
    """The drafts among `drafts` with a message still offering Approve."""
    return [
        draft_id
        for message in fake.messages.values()
        for row in message.get("reply_markup", {}).get("inline_keyboard", [])
        for button in row
        for draft_id in drafts
        if button.get("callback_data") == f"approve:{draft_id}"
    ]


def assert_one_session_per_citizen_at_a_time(fake_claude: FakeClaude) -> None:
    ends = {entry["pid"]: entry["time"] for entry in fake_claude.entries("end")}
    spans: dict[str, list[tuple[float, float]]] = {}
    for call in fake_claude.calls():
        spans.setdefault(Path(call["cwd"]).name, []).append((call["time"], ends[call["pid"]]))
    for citizen, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"two sessions of {citizen} ran at once"
