"""Helpers for the decision-loop tests: a client writing through the signed webhook, and the
messages that show a draft."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.settings import Settings
from storage.models import DraftMessage
from tests.signed_posts import post_signed
from tests.telegram_support import Service, free_port

SECRET = "loop-webhook-secret"
JOB_LINK = "https://www.upwork.com/jobs/~0123"


def loop_settings(make: Callable[..., Settings], **overrides: Any) -> Settings:
    """The bot against the fake Telegram, with signed webhooks on and no citizen CLI."""
    values = {"webhook_secret": SECRET, "claude_bin": "/nonexistent/claude"} | overrides
    return make(port=free_port(), **values)


async def client_writes(service: Service, **fields: Any) -> dict[str, Any]:
    """A client's message through the Upwork webhook; its 202 answer."""
    document = {"client": "Acme Corp", "message": "Can you start Monday?"} | fields
    return await post_signed(
        service.http, f"{service.url}/webhook/upwork-response", SECRET, document
    )


async def shown(service: Service, draft_id: str) -> list[int]:
    """The message ids recorded as showing the draft."""
    async with service.db() as session:
        rows = await session.scalars(
            select(DraftMessage.message_id).where(DraftMessage.draft_id == draft_id)
        )
        return sorted(int(row) for row in rows)


async def wait_shown(service: Service, draft_id: str, count: int) -> list[int]:
    async def enough() -> list[int] | None:
        ids = await shown(service, draft_id)
        return ids if len(ids) >= count else None

    return await service.fake.wait_for(  # type: ignore[no-any-return]
        enough, what=f"{count} messages showing draft {draft_id}"
    )


async def copy_by_drafts(service: Service, draft_id: str) -> int:
    """Send /drafts and return the message id of its copy of the draft's card."""
    before = set(await shown(service, draft_id))
    service.say("/drafts")
    ids = await wait_shown(service, draft_id, len(before) + 1)
    [copy] = set(ids) - before
    return copy


async def api(service: Service, path: str) -> dict[str, Any]:
    async with service.http.get(f"{service.url}{path}") as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())
