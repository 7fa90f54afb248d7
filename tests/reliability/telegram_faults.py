"""A scripted Telegram outage for a burst of drafts, and how to read what the operator got.

The script maps a draft's position in the burst to the fault switched on just before it is
posted: 500s, 429 with `retry_after`, slow answers, refused connections, and recovery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.fake_telegram import FakeTelegram

BURST = 50

Fault = Callable[[FakeTelegram], Awaitable[None] | None]


async def _refuse(fake: FakeTelegram) -> None:
    await fake.refuse_connections()


async def _accept(fake: FakeTelegram) -> None:
    await fake.accept_connections()


SCRIPT: dict[int, tuple[str, Fault]] = {
    0: ("three 500s", lambda fake: fake.fail_next("sendMessage", status=500, times=3)),
    6: ("429, retry after 1 s", lambda fake: fake.fail_next("sendMessage", 429, retry_after=1)),
    12: ("502 and 503", lambda fake: _fail_each(fake, 502, 503)),
    18: ("slow answers (0.4 s)", lambda fake: fake.slow(0.4, method="sendMessage")),
    24: ("answers on time again", lambda fake: fake.slow(0)),
    28: ("connections refused", _refuse),
    36: ("connections accepted again", _accept),
    40: ("429 then two 500s", lambda fake: _fail_each(fake, 429, 500, 500)),
    46: ("a 500 for the last ones", lambda fake: fake.fail_next("sendMessage", status=500)),
}
"""Position in the burst -> (what goes wrong from there, how the fake is told)."""

FAULTS = sum(1 for name, _ in SCRIPT.values() if "again" not in name)


def _fail_each(fake: FakeTelegram, *statuses: int) -> None:
    for status in statuses:
        fake.fail_next("sendMessage", status, retry_after=1 if status == 429 else None)


async def apply_fault(fake: FakeTelegram, position: int) -> None:
    """Switch on what the script says happens before draft `position` is posted."""
    if position not in SCRIPT:
        return
    outcome = SCRIPT[position][1](fake)
    if outcome is not None:
        await outcome


def cards_in_order(fake: FakeTelegram) -> list[str]:
    """The draft ids of the cards Telegram accepted, in the order it accepted them."""
    order: list[str] = []
    for params in fake.sent_messages():
        draft_id = _card_draft_id(params)
        if draft_id is not None:
            order.append(draft_id)
    return order


def _card_draft_id(params: dict[str, Any]) -> str | None:
    for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            data = str(button.get("callback_data", ""))
            if data.startswith("approve:"):
                return data.removeprefix("approve:")
    return None


def failed_sends(fake: FakeTelegram) -> int:
    """sendMessage calls Telegram answered with an error."""
    return len(fake.calls_to("sendMessage", ok=False))


def collapse_repeats(order: list[str]) -> list[str]:
    """`order` without immediate repeats: a message sent again right after itself."""
    return [item for n, item in enumerate(order) if n == 0 or order[n - 1] != item]
