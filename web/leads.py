"""Lead routes: Emma records her GO / NO-GO evaluations; the operator marks proposals sent."""

from __future__ import annotations

from aiohttp import web

from storage import locks
from storage.repo import events, leads, outbox
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.keys import DB, NOTIFIER
from web.pagination import decode_id_cursor, id_cursor
from web.schemas import (
    LeadCreate,
    LeadCreated,
    LeadDuplicate,
    LeadOut,
    LeadPage,
    LeadPatch,
    LeadsQuery,
)


async def create_lead(request: web.Request, body: LeadCreate) -> web.Response:
    notifier = request.app[NOTIFIER]
    async with request.app[DB]() as session, session.begin():
        if body.link is not None:
            # Concurrent requests with one link take turns: the first stores the lead.
            await locks.hold_in(session, ("lead-link", body.link))
            known = await leads.by_link(session=session, link=body.link)
            if known is not None:
                assert known.id is not None
                return json_response(LeadDuplicate(lead_id=known.id))
        lead = await leads.create(session=session, **body.model_dump())
        card = notifier.lead_card(lead)
        if card is not None:
            await outbox.enqueue(
                session=session,
                chat_id=card.chat_id,
                text=card.text,
                reply_markup=card.reply_markup,
            )
        await events.append(
            session=session,
            event="lead.tracked@1.0",
            payload={
                "lead_id": lead.id,
                "platform": lead.platform,
                "title": lead.title,
                "budget": lead.budget,
                "decision": lead.decision,
            },
        )
    if card is not None:
        notifier.kick()
    assert lead.id is not None
    return json_response(LeadCreated(lead_id=lead.id), status=201)


def _lead_id(request: web.Request) -> int:
    raw = request.match_info["lead_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "lead_not_found", f"No lead has id {raw!r}.")
    return int(raw)


async def get_lead(request: web.Request) -> web.Response:
    lead_id = _lead_id(request)
    async with request.app[DB]() as session:
        lead = await leads.get(session=session, lead_id=lead_id)
    if lead is None:
        raise ApiError(404, "lead_not_found", f"No lead has id {lead_id}.")
    return json_response(LeadOut.model_validate(lead))


async def patch_lead(request: web.Request, body: LeadPatch) -> web.Response:
    """Mark a lead's proposal as sent (once; a sent proposal cannot be unsent)."""
    lead_id = _lead_id(request)
    async with request.app[DB]() as session, session.begin():
        lead = await leads.get(session=session, lead_id=lead_id, for_update=True)
        if lead is None:
            raise ApiError(404, "lead_not_found", f"No lead has id {lead_id}.")
        if lead.sent and not body.sent:
            raise ApiError(409, "illegal_transition", "A sent lead cannot be marked unsent.")
        if body.sent and not lead.sent:
            await leads.set_sent(session=session, lead=lead, sent=True)
            await events.append(
                session=session,
                event="lead.sent@1.0",
                payload={"lead_id": lead.id, "platform": lead.platform, "title": lead.title},
            )
        out = LeadOut.model_validate(lead)
    return json_response(out)


async def list_leads(request: web.Request, query: LeadsQuery) -> web.Response:
    before_id = None if query.cursor is None else decode_id_cursor("leads", query.cursor)
    async with request.app[DB]() as session:
        rows = await leads.list_page(
            session=session,
            decision=query.decision,
            platform=query.platform,
            sent=query.sent,
            link=query.link,
            limit=query.limit + 1,
            before_id=before_id,
        )
    page = [LeadOut.model_validate(row) for row in rows[: query.limit]]
    next_cursor = id_cursor("leads", page[-1].id) if len(rows) > query.limit else None
    return json_response(LeadPage(leads=page, next_cursor=next_cursor))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/leads",
        create_lead,
        "Record an evaluated lead; a GO lead is shown to the operator. A `link` tracked "
        "already answers 200 with the existing lead's id.",
        responses={201: LeadCreated, 200: LeadDuplicate},
        errors=(400, 401, 413, 415, 422, 503),
        body=LeadCreate,
    ),
    Endpoint(
        "GET",
        "/api/leads",
        list_leads,
        "Leads, newest first.",
        responses={200: LeadPage},
        errors=(400, 401, 503),
        query=LeadsQuery,
    ),
    Endpoint(
        "GET",
        "/api/lead/{lead_id}",
        get_lead,
        "One lead.",
        responses={200: LeadOut},
        errors=(401, 404, 503),
    ),
    Endpoint(
        "PATCH",
        "/api/lead/{lead_id}",
        patch_lead,
        "Mark a lead's proposal as sent.",
        responses={200: LeadOut},
        errors=(400, 401, 404, 409, 413, 415, 422, 503),
        body=LeadPatch,
    ),
]
