"""Telegram for the bench: the fake Bot API (in this process, so its clock is ours), and the
time from posting a draft to the fake Bot API receiving its notification."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import aiohttp
import asyncpg

from bench.scenarios import DRAFT_BODY
from tests.fake_telegram import Call, FakeTelegram

BOT_TOKEN = "123456:bench-bot-token"
CHAT_ID = 4242
CEILING_CHAT_ID = 4243
"""The ceiling's cards go to a chat of their own, so neither side's queue holds up the other's."""
DRAIN_POLL_S = 0.05
WAIT_FOR_CARD_S = 10.0


class Telegram:
    """The fake Bot API both the service and the ceiling send their draft cards to."""

    def __init__(self) -> None:
        self.fake = FakeTelegram(token=BOT_TOKEN)

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def service_env(self) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT_ID),
            "TELEGRAM_API_BASE_URL": self.fake.base_url,
            # Many cards to one chat: the fake API has no flood limits to pace for.
            "TELEGRAM_PACING": "false",
        }

    def ceiling_args(self) -> list[str]:
        return [
            "--telegram-url",
            f"{self.fake.base_url}/bot{BOT_TOKEN}",
            "--chat-id",
            str(CEILING_CHAT_ID),
        ]

    def card_of(self, draft_id: str, start: int) -> Call | None:
        """The first sendMessage carrying `draft_id`'s buttons, looking from call `start` on."""
        for call in self.fake.calls[start:]:
            if call.method == "sendMessage" and call.ok and draft_id in str(call.params):
                return call
        return None


async def wait_until_delivered(url: str, chat_id: int, timeout_s: float) -> tuple[float, int]:
    """Wait until no card for `chat_id` is left in the outbox, at most `timeout_s`.

    Returns how long that took, and how many cards were still unsent when the wait ended.
    """
    started = time.monotonic()
    connection = await asyncpg.connect(url)
    try:
        while True:
            unsent = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE chat_id = $1 AND status = 'pending'", chat_id
            )
            if not unsent or time.monotonic() - started > timeout_s:
                return time.monotonic() - started, unsent
            await asyncio.sleep(DRAIN_POLL_S)
    finally:
        await connection.close()


async def notification_latency(
    base_url: str, token: str, telegram: Telegram, count: int
) -> tuple[float, float]:
    """Post `count` drafts one at a time; (p50, p99) in ms of request sent → card received."""
    telegram.fake.calls.clear()
    body = json.dumps(DRAFT_BODY).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as client:
        for _ in range(count):
            start = len(telegram.fake.calls)
            sent_at = time.monotonic()
            async with client.post(base_url + "/api/draft/create", data=body) as response:
                response.raise_for_status()
                draft_id = (await response.json())["draft_id"]
            call = await telegram.fake.wait_for(
                lambda draft_id=draft_id, start=start: telegram.card_of(draft_id, start),
                timeout=WAIT_FOR_CARD_S,
                what=f"the card of draft {draft_id}",
            )
            latencies.append((call.at - sent_at) * 1000)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return statistics.median(latencies), cuts[98]
