"""A scripted, seeded workload for the crash test, and the ledger of what was acknowledged.

Operations: drafts, events, leads (and marking them sent) over the API; trigger and Upwork
webhooks, signed; approve / reject taps, edits and /trigger in Telegram (through the fake Bot
API, which the service polls). An operation counts as acknowledged only when the service said
so: a 201/202/200 answer, a callback answer saying the decision was made, the reply naming a
session queued by /trigger, or (for an edit) the edited card reaching Telegram. Whatever was
acknowledged must survive every `kill -9`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fake_telegram import FakeTelegram
from tests.reliability.service_runs import post
from tests.signed_posts import signed_headers
from tests.telegram_support import DRAFT
from tests.telegram_updates import callback_query_update, message_update

WEBHOOK_SECRET = "whsec-crash-drill-91d4c7"
CITIZENS = ("rafael", "emma", "daniel")
ANSWER_WAIT_S = 15.0
"""Longest wait for the bot's answer while the service is up (it may wait on a lease)."""
# (operation, weight)
EDITED_CARD = "📝 <b>Edited draft</b>"
"""How the card of a draft edited in the chat begins (bot/telegram/steps.py)."""
MIX = [
    ("draft", 8),
    ("event", 5),
    ("lead", 3),
    ("lead_sent", 2),
    ("trigger", 3),
    ("upwork", 2),
    ("tg_trigger", 2),
    ("decide", 4),
    ("edit", 2),
]
DECIDED = {"✅ Approved": "approved", "❌ Rejected": "rejected"}
# A session's notice (the answer to /trigger): "🕐 <b>emma</b> session queued …\n<code>ID</code>".
QUEUED = re.compile(r"session queued[^\n]*\n<code>([0-9a-f-]{36})</code>")


@dataclass
class Ledger:
    """Everything the service acknowledged, across all runs."""

    drafts: list[str] = field(default_factory=list)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    leads: dict[int, bool] = field(default_factory=dict)
    """lead id -> whether marking it sent was acknowledged."""
    sessions: list[str] = field(default_factory=list)
    decisions: dict[str, str] = field(default_factory=dict)
    edits: dict[str, str] = field(default_factory=dict)
    """draft id -> the new text sent for it (acknowledged once its edited card is in Telegram)."""
    busy: set[str] = field(default_factory=set)
    """Drafts a decision or an edit was tried on: each gets one of them, once."""
    acks: int = 0


class Workload:
    """Runs operations in a few concurrent lanes until told to stop or the service is gone."""

    def __init__(
        self, http: aiohttp.ClientSession, fake: FakeTelegram, ledger: Ledger, seed: int
    ) -> None:
        self.http, self.fake, self.ledger = http, fake, ledger
        self.random = random.Random(seed)
        self.url = ""
        self.on_ack: Callable[[], None] = lambda: None
        self.alive: Callable[[], bool] = lambda: True
        """Whether the service still runs: waits for the bot end as soon as it does not."""
        self.failures = 0
        """Operations that got no answer (the service was killed under them)."""
        self._numbers = itertools.count(seed * 10_000)
        # One person taps in the chat: a tap that starts a step (Edit; Reject asks why)
        # replaces the step pending before it, and the chat's updates are handled in order, so
        # an edit's tap and its text must not have another lane's tap between them.
        self._one_step = asyncio.Lock()

    async def run(self, url: str, operations: int, lanes: int = 3) -> None:
        self.url = url
        plan = iter(self.random.choices([n for n, _ in MIX], [w for _, w in MIX], k=operations))
        await asyncio.gather(*(self._lane(plan) for _ in range(lanes)))

    async def open_sessions(self, url: str, citizen: str = "daniel", count: int = 2) -> None:
        """Queue `count` slow sessions of one citizen: one runs, the rest wait behind it."""
        self.url = url
        for _ in range(count):
            n = next(self._numbers)
            body = {"message": f"Long crash drill task {n}\nFAKE:sleep=1.5"}
            await self._webhook(n, f"/webhook/trigger/{citizen}", body)

    async def operate_in_chat(self, url: str) -> None:
        """Three new drafts, one approved, one rejected, one edited; and a /trigger."""
        self.url = url
        for _ in range(3):
            await self._draft(next(self._numbers))
        drafts = self.ledger.drafts[-3:]
        deadline = asyncio.get_running_loop().time() + 10
        while not all(self._card(d) for d in drafts):
            assert asyncio.get_running_loop().time() < deadline, "the cards did not arrive"
            await asyncio.sleep(0.02)
        for draft_id, action in zip(drafts, ["approve", "reject", "edit"], strict=True):
            self.ledger.busy.add(draft_id)
            one = self._edit_one if action == "edit" else self._decide_one
            await one(next(self._numbers), draft_id, action)
        await self._tg_trigger(next(self._numbers))

    async def _lane(self, plan: Any) -> None:
        for name in plan:
            try:
                await getattr(self, f"_{name}")(next(self._numbers))
            except (aiohttp.ClientError, TimeoutError):
                self.failures += 1
                return  # the service is down: this lane is done for this run

    def _ack(self) -> None:
        self.ledger.acks += 1
        self.on_ack()

    # --- API ---

    async def _draft(self, n: int) -> None:
        body = DRAFT | {"client": f"Crash client {n}"}
        status, answer = await post(
            self.http, f"{self.url}/api/draft/create", body, headers={"Idempotency-Key": f"c{n}"}
        )
        assert status == 201, answer
        self.ledger.drafts.append(answer["draft_id"])
        self._ack()

    async def _event(self, n: int) -> None:
        payload = {"n": n, "text": f"crash drill {n}"}
        body = {"event": "reliability.crash@1.0", "payload": payload}
        status, answer = await post(self.http, f"{self.url}/api/event/log", body)
        assert status == 201, answer
        self.ledger.events[int(answer["event_id"])] = payload
        self._ack()

    async def _lead(self, n: int) -> None:
        body = {
            "platform": "upwork",
            "title": f"Lead {n}",
            "budget": "$500",
            "decision": self.random.choice(["GO", "NO-GO"]),
            "reason": "crash drill",
        }
        status, answer = await post(self.http, f"{self.url}/api/leads", body)
        assert status == 201, answer
        self.ledger.leads[int(answer["lead_id"])] = False
        self._ack()

    async def _lead_sent(self, n: int) -> None:
        unsent = [lead for lead, sent in self.ledger.leads.items() if not sent]
        if not unsent:
            return await self._lead(n)
        lead = self.random.choice(unsent)
        url = f"{self.url}/api/lead/{lead}"
        async with self.http.patch(url, json={"sent": True}) as response:
            assert response.status == 200, await response.text()
        self.ledger.leads[lead] = True
        self._ack()

    # --- signed webhooks ---

    async def _trigger(self, n: int) -> None:
        citizen = self.random.choice(CITIZENS)
        # The fake claude works a little while, so kills find sessions running and queued.
        message = f"Crash drill task {n}\nFAKE:sleep={self.random.choice([0.2, 0.6])}"
        await self._webhook(n, f"/webhook/trigger/{citizen}", {"message": message})

    async def _upwork(self, n: int) -> None:
        body = {"client": f"Client {n}", "message": f"Any news?\nFAKE:sleep=0.3\n{n}"}
        await self._webhook(n, "/webhook/upwork-response", body)

    async def _webhook(self, n: int, path: str, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        headers = signed_headers(WEBHOOK_SECRET, raw, **{"X-Webhook-Id": f"crash-{n}"})
        status, answer = await post(self.http, self.url + path, None, headers=headers, data=raw)
        assert status == 202 and answer["accepted"], answer
        self.ledger.sessions.append(answer["session_id"])
        self._ack()

    # --- Telegram ---

    def _card(self, draft_id: str) -> int | None:
        for (_chat, message_id), message in self.fake.messages.items():
            if draft_id in message["text"] and message.get("reply_markup"):
                return message_id
        return None

    def _free_draft(self) -> tuple[str, int] | None:
        """An acknowledged draft with its card in Telegram and no decision or edit tried yet."""
        free = [d for d in self.ledger.drafts if d not in self.ledger.busy and self._card(d)]
        if not free:
            return None
        draft_id = self.random.choice(free)
        self.ledger.busy.add(draft_id)
        return draft_id, self._card(draft_id) or 0

    async def _answer(self, update: dict[str, Any]) -> str:
        """Inject a tap and wait for its callback answer's text."""
        callback_id = update["callback_query"]["id"]
        self.fake.inject_update(update)

        def answer() -> str | None:
            for call in self.fake.calls_to("answerCallbackQuery"):
                if call.params.get("callback_query_id") == callback_id:
                    return str(call.params.get("text", ""))
            return None

        return await self._until(answer, "a callback answer")

    async def _until(self, found: Callable[[], str | None], what: str) -> str:
        """Poll `found` while the service lives (bounded); TimeoutError once it is gone."""
        deadline = asyncio.get_running_loop().time() + ANSWER_WAIT_S
        while self.alive() and asyncio.get_running_loop().time() < deadline:
            value = found()
            if value is not None:
                return value
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no {what}")

    async def _tg_trigger(self, n: int) -> None:
        """/trigger in the operator's chat; acknowledged by the reply naming the session."""
        citizen = self.random.choice(CITIZENS)
        self.fake.inject_update(
            message_update(f"/trigger {citizen} Crash drill chat task {n}\nFAKE:sleep=0.2")
        )

        def reply() -> str | None:
            # Replies in a private chat quote nothing: any new session named will do, since
            # every reply acknowledges a session all the same.
            for params in self.fake.sent_messages():
                queued = QUEUED.search(str(params.get("text", "")))
                if queued and queued.group(1) not in self.ledger.sessions:
                    return queued.group(1)
            return None

        self.ledger.sessions.append(await self._until(reply, "reply to /trigger"))
        self._ack()

    async def _decide(self, n: int) -> None:
        chosen = self._free_draft()
        if chosen is None:
            return await self._draft(n)
        await self._decide_one(n, chosen[0], self.random.choice(["approve", "reject"]))

    async def _decide_one(self, n: int, draft_id: str, action: str) -> None:
        card = self._card(draft_id) or 0
        async with self._one_step:  # not between another lane's Edit tap and its text
            text = await self._answer(
                callback_query_update(f"{action}:{draft_id}", message_id=card)
            )
        if text in DECIDED:
            self.ledger.decisions[draft_id] = DECIDED[text]
            self._ack()

    async def _edit(self, n: int) -> None:
        chosen = self._free_draft()
        if chosen is None:
            return await self._draft(n)
        await self._edit_one(n, chosen[0], "edit")

    async def _edit_one(self, n: int, draft_id: str, _action: str) -> None:
        async with self._one_step:
            new_text = f"Edited in the crash drill ({n})"
            self.ledger.edits[draft_id] = new_text
            card = self._card(draft_id) or 0
            await self._answer(callback_query_update(f"edit:{draft_id}", message_id=card))
            # Sent even if the service dies now: the pending edit waits in the database.
            self.fake.inject_update(message_update(new_text))
            await self._edited_card(new_text)

    async def _edited_card(self, text: str) -> None:
        def card() -> str | None:
            sent = [params.get("text", "") for params in self.fake.sent_messages()]
            return text if any(t.startswith(EDITED_CARD) and text in t for t in sent) else None

        await self._until(card, "edited card")
        self._ack()
