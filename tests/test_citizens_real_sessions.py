"""Whole citizen sessions through the real Claude Code CLI, in the running service.

Only the model is scripted (tests/fake_anthropic.py): the CLI, its permission system, its MCP
client, `scopelock mcp`, the API, the database and the Bot API calls are the real ones. Each test
says what the model does and asserts what the service stored, what the operator's chat got and
what the model was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage.models import CitizenSession, Draft
from tests.citizens_support import wait_finished
from tests.fake_anthropic import Usage, reply, tool_call, tool_search
from tests.fake_telegram import FakeTelegram
from tests.real_cli_support import RealCli
from tests.telegram_support import free_port, running_service
from tests.telegram_updates import OPERATOR_ID
from web.signatures import sign

pytestmark = pytest.mark.slow
SECRET = "real-cli-webhook-secret-3c1d"
TOOL = "mcp__scopelock__"


@pytest.fixture
def service_settings(
    telegram_settings: Callable[..., Settings], real_cli: RealCli
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values = real_cli.settings(port=free_port(), webhook_secret=SECRET)
        return telegram_settings(**(values | overrides))

    return make


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", "X-Webhook-Signature": sign(SECRET, raw)}


CLIENT_MESSAGE = {
    "client": "Jane Roe",
    "message": "Could the widget also speak French?",
    "job_title": "Chat widget",
    "job_link": "https://www.upwork.com/jobs/~01abc",
}
DRAFT_TEXT = "Hi Jane, French fits in the current milestone; shall I add it?"


def rafael_drafts(usage: Usage | None = None) -> list[Any]:
    """Rafael as the real model works: load the deferred tools, read the thread, draft."""
    return [
        tool_search(f"{TOOL}get_thread", f"{TOOL}create_draft"),
        tool_call(f"{TOOL}get_thread", {}),
        tool_call(
            f"{TOOL}create_draft",
            {
                "client": CLIENT_MESSAGE["client"],
                "job_title": CLIENT_MESSAGE["job_title"],
                "message": CLIENT_MESSAGE["message"],
                "draft_text": DRAFT_TEXT,
                "confidence": 80,
                "note": "Assumed French is in scope.",
            },
            usage=usage,
        ),
        reply("Draft posted for the operator."),
    ]


async def test_a_client_message_becomes_a_draft_in_the_operators_chat(
    service_settings: Callable[..., Settings], fake_telegram: FakeTelegram, real_cli: RealCli
) -> None:
    real_cli.model.script(*rafael_drafts())
    raw, headers = signed(CLIENT_MESSAGE)
    async with running_service(service_settings(), fake_telegram) as service:
        async with service.http.post(
            f"{service.url}/webhook/upwork-response", data=raw, headers=headers
        ) as response:
            assert response.status == 202
            accepted = await response.json()
        row = await wait_finished(service.db, accepted["session_id"])
        card = await fake_telegram.wait_for(
            lambda: next(
                (m for m in fake_telegram.sent_messages(OPERATOR_ID) if DRAFT_TEXT in m["text"]),
                None,
            ),
            timeout=30,
            what="the draft's card",
        )
        async with service.db() as session:
            [draft] = (await session.scalars(select(Draft))).all()
            stored = await session.get(CitizenSession, accepted["session_id"])

    assert (row.status, row.error) == ("completed", None), row.error
    assert stored is not None and stored.result == "Draft posted for the operator."
    assert (draft.citizen, draft.session_id, draft.thread_id) == (
        "rafael",
        accepted["session_id"],
        accepted["thread_id"],
    )
    assert draft.draft_text == DRAFT_TEXT
    assert "Jane Roe" in card["text"]
    assert card["reply_markup"]["inline_keyboard"]
    # What the model saw: Rafael's CLAUDE.md, then get_thread's answer holding the message.
    first = real_cli.model.turns()[0].text
    assert "# Rafael" in first
    thread_answer, draft_answer = real_cli.model.tool_result_texts()[1:3]
    assert CLIENT_MESSAGE["message"] in thread_answer
    assert accepted["thread_id"] in thread_answer
    assert draft.id in draft_answer
    assert real_cli.model.steps_left == 0
