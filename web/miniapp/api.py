"""`/app/api/*`: the Mini App's calls, each made by an allowed Telegram user (see auth.py).

A draft action goes through `storage.repo.draft_actions`, like the buttons in chat: the same
state change, events and feedback, and the same card edits (queued in the transaction, sent
after it commits). The first decision wins: acting on a draft that is no longer pending, or
that changed since the page loaded it (`updated_at`), answers 409 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from citizens import prompts, thread_notices
from storage.models import Draft
from storage.repo import draft_actions, inbox, stats, thread_waits, threads
from storage.repo.deliveries import Wake
from storage.repo.draft_actions import Actor, Outcome
from storage.types import utcnow
from web.endpoints import json_response, parse_body, parse_query, read_json_body
from web.errors import ApiError
from web.keys import CHARTS, DB, DELIVER, NOTIFIER, RUNNER, SETTINGS
from web.miniapp.auth import authenticate
from web.miniapp.schemas import (
    EXCERPT_CHARS,
    DraftAction,
    MiniDraft,
    PendingDraft,
    PendingPage,
    WaitingThread,
)
from web.schemas import is_storable
from web.stats import StatsQuery
from web.threads import thread_response, thread_view

SUMMARY_FIELDS = {
    "id", "client", "job_title", "citizen", "confidence", "note", "thread_id", "created_at",
    "updated_at",
}  # fmt: skip


def _actor(request: web.Request) -> Actor:
    user = authenticate(request, request.app[SETTINGS])
    return Actor(user_id=user.id, name=user.name, via="mini_app")


async def list_pending(request: web.Request) -> web.Response:
    _actor(request)
    low = request.app[SETTINGS].low_confidence
    async with request.app[DB]() as session:
        waiting = await inbox.pending(session=session)
        left = await thread_waits.without_draft(session=session)
    threads_left = [
        WaitingThread(
            thread_id=item.thread.id,
            client=item.thread.client,
            job_title=item.thread.job_title,
            waiting_since=item.thread.waiting_since or utcnow(),
            state=thread_notices.waiting_state(item.session, item.draft),
        )
        for item in left
    ]
    drafts = [
        PendingDraft(
            **w.draft.model_dump(include=SUMMARY_FIELDS),
            low_confidence=w.draft.confidence < low,
            waiting_since=w.waiting_since,
            excerpt=w.draft.draft_text[:EXCERPT_CHARS],
        )
        for w in waiting
    ]
    return json_response(PendingPage(drafts=drafts, waiting=threads_left, now=utcnow()))


async def get_draft(request: web.Request) -> web.Response:
    _actor(request)
    draft_id = request.match_info["draft_id"]
    async with request.app[DB]() as session:
        return json_response(await _view(request, session, await _draft(session, draft_id)))


async def act_on_draft(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = parse_body(await read_json_body(request), DraftAction)
    draft_id = request.match_info["draft_id"]
    notifier = request.app[NOTIFIER]
    async with request.app[DB]() as session, session.begin():
        status, updated_at = await _lock(session, draft_id)
        if status != "pending":
            raise ApiError(409, "draft_not_pending", f"The draft is already {status}.")
        if body.updated_at is not None and body.updated_at != updated_at:
            raise ApiError(
                409, "draft_changed", "The draft changed since you opened it; reload it."
            )
        outcome = await _apply(session, draft_id, body, actor, request.app[DELIVER])
        if not outcome.changed:
            raise ApiError(409, "draft_not_pending", "The draft is no longer pending.")
        draft = await _draft(session, draft_id, refresh=True)
        await notifier.draft_changed(session=session, draft=draft)
        view = await _view(request, session, draft)
    notifier.kick()
    if outcome.session_id is not None:  # a redraft queued its citizen's session
        runner = request.app.get(RUNNER)
        if runner is not None:
            runner.wake()
    return json_response(view)


async def get_chart(request: web.Request) -> web.Response:
    """`/app/api/chart/<kind>.png?days=N`: one chart of /stats, drawn as /stats draws it."""
    _actor(request)
    kind = request.match_info["kind"]
    charts = request.app.get(CHARTS)
    if charts is None:
        raise ApiError(404, "chart_not_found", "This server draws no charts.")
    if kind not in charts.kinds:
        raise ApiError(
            404, "chart_not_found", f"No chart {kind!r}; one of {', '.join(charts.kinds)}."
        )
    query = parse_query(request, StatsQuery)
    settings = request.app[SETTINGS]
    async with request.app[DB]() as session:
        numbers = await stats.compute(
            session=session, days=query.days, tz=settings.tz, now=utcnow()
        )
    png = await charts.png(kind, numbers)
    return web.Response(body=png, content_type="image/png")


async def _apply(
    session: AsyncSession, draft_id: str, body: DraftAction, actor: Actor, deliver: Wake | None
) -> Outcome:
    common: dict[str, Any] = {"session": session, "draft_id": draft_id, "actor": actor}
    if body.action == "redraft":
        assert body.instruction is not None
        return await draft_actions.redraft(
            **common, instruction=body.instruction, prompt=prompts.redraft_of
        )
    if body.action == "edit":
        assert body.text is not None
        return await draft_actions.edit(**common, text=body.text)
    if body.text is not None:  # Save and approve: the new text first, in this transaction
        current = await session.scalar(
            select(col(Draft.draft_text)).where(col(Draft.id) == draft_id)
        )
        if body.text != current:
            edited = await draft_actions.edit(**common, text=body.text)
            if not edited.changed:
                return edited
    status = "approved" if body.action == "approve" else "rejected"
    outcome = await draft_actions.decide(**common, status=status, deliver=deliver)
    if outcome.changed and body.reason is not None:
        await draft_actions.reject_reason(**common, reason=body.reason)
    return outcome


async def _lock(session: AsyncSession, draft_id: str) -> tuple[str, Any]:
    """The draft's status and version, its row locked until the transaction ends."""
    row = None
    if is_storable(draft_id):
        row = (
            await session.execute(
                select(col(Draft.status), col(Draft.updated_at))
                .where(col(Draft.id) == draft_id)
                .with_for_update()
            )
        ).one_or_none()
    if row is None:
        raise ApiError(404, "draft_not_found", f"No draft has id {draft_id!r}.")
    return str(row[0]), row[1]


async def _draft(session: AsyncSession, draft_id: str, *, refresh: bool = False) -> Draft:
    draft = None
    if is_storable(draft_id):
        draft = await session.get(Draft, draft_id, populate_existing=refresh)
    if draft is None:
        raise ApiError(404, "draft_not_found", f"No draft has id {draft_id!r}.")
    return draft


async def _view(request: web.Request, session: AsyncSession, draft: Draft) -> MiniDraft:
    feedback = await threads.feedback_for(session=session, draft_ids=[draft.id])
    return MiniDraft.model_validate(
        {
            **draft.model_dump(),
            "feedback": feedback[draft.id],
            "low_confidence": draft.confidence < request.app[SETTINGS].low_confidence,
            "waiting_since": await inbox.waiting_since(session=session, draft=draft),
        }
    )


async def get_thread(request: web.Request) -> web.Response:
    _actor(request)
    # The same document as GET /api/thread/{id}, from the same code.
    return thread_response(await thread_view(request, request.match_info["thread_id"]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/app/api/drafts", list_pending)
    app.router.add_get("/app/api/draft/{draft_id}", get_draft)
    app.router.add_post("/app/api/draft/{draft_id}", act_on_draft)
    app.router.add_get("/app/api/thread/{thread_id}", get_thread)
    app.router.add_get("/app/api/chart/{kind}.png", get_chart)
