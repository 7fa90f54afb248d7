"""Draft routes: citizens post drafts here; the operator decides on them in Telegram."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from storage.models import Draft, Lead, Thread
from storage.repo import draft_intake, drafts, idempotency, thread_waits, threads
from web.endpoints import Endpoint, HeaderParam, json_response, token_header
from web.errors import ApiError
from web.keys import DB, HOT, NOTIFIER
from web.pagination import decode_time_cursor, time_cursor
from web.schemas import (
    DraftCreate,
    DraftCreated,
    DraftOut,
    DraftPage,
    DraftsQuery,
    is_storable,
)
from web.session_auth import SESSION_CALLER, draft_fields

IDEMPOTENCY_HEADER = "Idempotency-Key"


async def create_draft(request: web.Request, body: DraftCreate) -> web.Response:
    key = token_header(request, IDEMPOTENCY_HEADER, meaning="idempotency key")
    thread = await _check_references(request, body)
    fields = body.model_dump()
    caller = request.get(SESSION_CALLER)
    if caller is not None:
        draft_fields(fields, body.model_fields_set, caller)
    fields["context"] = fields["context"] or {}
    draft = drafts.new(**fields)
    if key is None and (caller is None or caller.thread_id is None):
        # Nothing to decide: the hot path, one statement on PostgreSQL.
        card = request.app[NOTIFIER].card(draft, thread)
        created = DraftCreated(draft_id=draft.id, status=draft.status, telegram_sent=False)
        outbox_id = await draft_intake.store(hot=request.app[HOT], draft=draft, card=card)
    else:
        request_hash = None if key is None else _request_hash(body)
        try:
            created, outbox_id = await _store_deciding(request, draft, thread, key, request_hash)
        except IntegrityError:
            if key is None:
                raise
            # Another request claimed the same key first; answer as its replay.
            created, outbox_id = await _store_deciding(request, draft, thread, key, request_hash)
    if outbox_id is not None and await request.app[NOTIFIER].deliver(outbox_id):
        created = created.model_copy(update={"telegram_sent": True})
        if key is not None:
            async with request.app[DB]() as session, session.begin():
                await idempotency.update_response(
                    session=session, key=key, response=created.model_dump(mode="json")
                )
    return json_response(created, status=201)


async def _store_deciding(
    request: web.Request,
    draft: Draft,
    thread: Thread | None,
    key: str | None,
    request_hash: str | None,
) -> tuple[DraftCreated, int | None]:
    """Store the draft in one transaction that decides what it answers (and, with an
    idempotency `key`, holds the key with its answer, or replays the key's first answer).

    A draft of a session on a thread is decided holding the thread's row (SQLite: the one
    writer), which a client's message takes too: the message either committed before, and
    the draft is stored superseded at once, or comes after and supersedes it (CONTRACT §14).
    """
    caller = request.get(SESSION_CALLER)
    async with request.app[DB]() as session, session.begin():
        if key is not None:
            seen = await idempotency.get(session=session, key=key)
            if seen is not None:
                if seen.request_hash != request_hash:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        f"{IDEMPOTENCY_HEADER} was already used with a different body.",
                    )
                return DraftCreated.model_validate(seen.response), None
        answering = thread_waits.Answering(None, None, False)
        if caller is not None and caller.thread_id is not None:
            answering = await thread_waits.answering(session=session, session_id=caller.session_id)
        # The client wrote again since the session started: this answers an older message.
        # Superseded now: counted in /api/stats by this moment, like every supersede.
        draft.status, draft.decided_at = (
            ("superseded", draft.created_at) if answering.outdated else ("pending", None)
        )
        card = request.app[NOTIFIER].card(
            draft, answering.thread or thread, notice_outbox_id=answering.notice_outbox_id
        )
        created = DraftCreated(draft_id=draft.id, status=draft.status, telegram_sent=False)
        outbox_id = await draft_intake.store_in(session=session, draft=draft, card=card)
        if answering.outdated:
            await draft_intake.superseded_at_once(session=session, draft=draft)
        if key is not None:
            assert request_hash is not None
            await idempotency.claim(
                session=session,
                key=key,
                request_hash=request_hash,
                response=created.model_dump(mode="json"),
            )
    return created, outbox_id


async def _check_references(request: web.Request, body: DraftCreate) -> Thread | None:
    """A named thread or lead must exist: 422 naming the field, never a constraint error.
    Returns the draft's thread, when it names one."""
    if body.thread_id is None and body.lead_id is None:
        return None
    thread = None
    async with request.app[DB]() as session:
        if body.thread_id is not None:
            thread = await session.get(Thread, body.thread_id)
            if thread is None:
                raise _unknown("thread_id", f"no thread has id {body.thread_id!r}")
        if body.lead_id is not None and await session.get(Lead, body.lead_id) is None:
            raise _unknown("lead_id", f"no lead has id {body.lead_id}")
    return thread


def _unknown(field: str, message: str) -> ApiError:
    return ApiError(
        422, "validation_error", f"{field}: {message}.", [{"field": field, "message": message}]
    )


def _request_hash(body: DraftCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def get_draft(request: web.Request) -> web.Response:
    draft_id = request.match_info["draft_id"]
    draft = None
    if is_storable(draft_id):  # a NUL or a lone surrogate cannot name a row
        draft = await drafts.read(hot=request.app[HOT], draft_id=draft_id)
    if draft is None:
        raise ApiError(404, "draft_not_found", f"No draft has id {draft_id!r}.")
    return json_response(DraftOut.model_validate(draft))


async def list_drafts(request: web.Request, query: DraftsQuery) -> web.Response:
    after = None
    if query.cursor is not None:
        after = decode_time_cursor("drafts", query.cursor)
    async with request.app[DB]() as session:
        rows = await drafts.list_page(
            session=session,
            status=query.status,
            thread_id=query.thread_id,
            client=query.client,
            limit=query.limit + 1,
            after=after,
        )
        page = rows[: query.limit]
        feedback = await threads.feedback_for(session=session, draft_ids=(d.id for d in page))
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = time_cursor("drafts", last.created_at, last.id)
    return json_response(
        DraftPage(
            drafts=[
                DraftOut.model_validate({**row.model_dump(), "feedback": feedback[row.id]})
                for row in page
            ],
            next_cursor=next_cursor,
        )
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/draft/create",
        create_draft,
        "Store a draft and notify the operator.",
        responses={201: DraftCreated},
        errors=(400, 401, 403, 413, 415, 422, 503),
        body=DraftCreate,
        headers=(
            HeaderParam(
                IDEMPOTENCY_HEADER,
                "Replaying the same key with the same body answers the first response again.",
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/draft/{draft_id}",
        get_draft,
        "One draft.",
        responses={200: DraftOut},
        errors=(401, 404, 503),
    ),
    Endpoint(
        "GET",
        "/api/drafts",
        list_drafts,
        "Drafts, newest first.",
        responses={200: DraftPage},
        errors=(400, 401, 503),
        query=DraftsQuery,
    ),
]
