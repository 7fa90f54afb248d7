"""`scopelock mcp` (CONTRACT §8): the real server process on stdio, driven by the `mcp` client,
against a live service; each tool's effect is checked in the database."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.mcp_server import TOOL_NAMES
from bot.settings import Settings
from storage.models import Draft, Event, Lead, Note
from tests.conftest import API_TOKEN
from tests.factories import stored_counts
from tests.reliability.live_server import live_server
from tests.test_api_threads import insert_thread

pytestmark = pytest.mark.slow
DB = async_sessionmaker[AsyncSession]


@pytest.fixture
def service_url(settings: Settings, engine: Any) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


def server(url: str, **env: str) -> StdioServerParameters:
    """`python -m bot mcp` as Claude Code starts it, with a session's environment."""
    values = {"BACKEND_API_URL": url, "SCOPELOCK_SESSION_TOKEN": API_TOKEN, **env}
    return StdioServerParameters(command=sys.executable, args=["-m", "bot", "mcp"], env=values)


async def call(params: StdioServerParameters, name: str, arguments: dict[str, Any]) -> Any:
    async with Client(params) as client:
        return await client.call_tool(name, arguments)


def answer(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error, result.content
    (block,) = result.content
    return block.text


async def test_it_offers_exactly_the_contracts_tools_each_with_a_manual(service_url: str) -> None:
    async with Client(server(service_url)) as client:
        tools = (await client.list_tools()).tools

    assert sorted(tool.name for tool in tools) == sorted(TOOL_NAMES)
    for tool in tools:
        assert tool.description and len(tool.description) > 40, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"


async def test_create_draft_posts_a_draft(service_url: str, db: DB) -> None:
    arguments = {
        "client": "Acme",
        "job_title": "Shopify widget",
        "message": "Can you start Monday?",
        "draft_text": "Yes. Which store theme do you use?",
        "confidence": 80,
    }

    created = answer(await call(server(service_url), "create_draft", arguments))

    async with db() as session:
        draft = await session.get(Draft, created["draft_id"])
    assert draft is not None
    assert (draft.client, draft.draft_text, draft.confidence) == (
        "Acme",
        arguments["draft_text"],
        80,
    )
    assert created["status"] == "pending"


async def test_an_api_refusal_is_a_tool_error_with_the_apis_message(
    service_url: str, db: DB
) -> None:
    arguments = {
        "client": "Acme",
        "job_title": "Widget",
        "message": "Hi",
        "draft_text": "Hello",
        "confidence": 101,
    }

    text = error_text(await call(server(service_url), "create_draft", arguments))

    assert "422 validation_error: confidence" in text
    assert "Traceback" not in text and 'File "' not in text
    assert (await stored_counts(db))["drafts"] == 0


async def test_a_wrong_token_is_a_tool_error_and_never_shown(service_url: str) -> None:
    params = server(service_url, SCOPELOCK_SESSION_TOKEN="not-the-token")

    text = error_text(await call(params, "read_notes", {}))

    assert "401 unauthorized" in text
    assert "not-the-token" not in text


async def test_an_unreachable_api_is_a_short_tool_error(service_url: str) -> None:
    params = server("http://127.0.0.1:9")

    text = error_text(await call(params, "find_leads", {}))

    assert "could not be reached" in text
    assert "Traceback" not in text


async def test_log_event_appends_and_reserved_names_are_refused(service_url: str, db: DB) -> None:
    params = server(service_url)
    logged = answer(
        await call(
            params, "log_event", {"event": "daniel.milestone.reached@1.0", "payload": {"m": 1}}
        )
    )

    async with db() as session:
        event = await session.get(Event, logged["event_id"])
    assert event is not None and (event.event, event.payload) == (
        "daniel.milestone.reached@1.0",
        {"m": 1},
    )
    bad = error_text(await call(params, "log_event", {"event": "not a name", "payload": {}}))
    assert "422" in bad


async def test_track_lead_then_find_leads(service_url: str, db: DB) -> None:
    params = server(service_url)
    lead = {
        "platform": "upwork",
        "title": "Chat widget",
        "budget": "$500",
        "decision": "GO",
        "reason": "Clear scope, paying client.",
        "urgency": 7,
        "pain": 6,
        "link": "https://www.upwork.com/jobs/~01",
    }

    created = answer(await call(params, "track_lead", lead))
    found = answer(await call(params, "find_leads", {"decision": "GO", "sent": False}))
    none = answer(await call(params, "find_leads", {"decision": "NO-GO"}))

    async with db() as session:
        stored = await session.get(Lead, created["lead_id"])
    assert stored is not None and stored.link == lead["link"]
    assert [item["id"] for item in found["leads"]] == [created["lead_id"]]
    assert none["leads"] == []


async def test_write_note_then_read_notes_newest_first(service_url: str, db: DB) -> None:
    params = server(service_url)
    for text in ("first", "second"):
        answer(await call(params, "write_note", {"text": text}))

    notes = answer(await call(params, "read_notes", {"limit": 5}))

    assert [note["text"] for note in notes["notes"]] == ["second", "first"]
    async with db() as session:
        rows = (await session.scalars(select(Note))).all()
    assert sorted(row.text for row in rows) == ["first", "second"]


async def test_get_thread_without_a_thread_says_so(service_url: str) -> None:
    text = error_text(await call(server(service_url), "get_thread", {}))

    assert text.endswith("this session has no thread")


async def test_get_thread_of_an_unknown_thread_is_the_apis_404(service_url: str) -> None:
    params = server(service_url, SCOPELOCK_THREAD_ID="no-such-thread")

    text = error_text(await call(params, "get_thread", {}))

    assert "404" in text


async def test_get_thread_reads_the_sessions_thread_and_create_draft_joins_it(
    service_url: str, db: DB
) -> None:
    thread_id = await insert_thread(db, client="Jane Roe")
    params = server(service_url, SCOPELOCK_THREAD_ID=thread_id)

    thread = answer(await call(params, "get_thread", {}))
    created = answer(
        await call(
            params,
            "create_draft",
            {
                "client": "Jane Roe",
                "job_title": "Widget",
                "message": "Can we add a login?",
                "draft_text": "A login is an addition: which provider?",
                "confidence": 70,
                "note": "She asked for a login: an addition.",
            },
        )
    )

    assert (thread["id"], thread["client"]) == (thread_id, "Jane Roe")
    assert [m["text"] for m in thread["messages"]] == ["Can we add a login?"]
    async with db() as session:
        draft = await session.get(Draft, created["draft_id"])
    assert draft is not None
    assert (draft.thread_id, draft.note) == (thread_id, "She asked for a login: an addition.")
