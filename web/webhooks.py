"""Signed webhooks (CONTRACT §4): Zapier's Upwork replies and manual or scheduled triggers.

The signature is checked on the raw bytes before anything is parsed, stored or launched. A
delivery is recorded in the transaction that queues its session, so a failure on our side
leaves it unseen, and the sender's retry (Zapier replays the same signed bytes) goes through.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from citizens import prompts
from citizens.directory import citizen_dir, citizens_root
from storage.repo import (
    citizen_queue,
    events,
    outbox,
    reply_intake,
    thread_intake,
    webhook_deliveries,
)
from storage.repo.draft_intake import Card
from web.endpoints import (
    Endpoint,
    HeaderParam,
    json_response,
    parse_body,
    read_json_body,
    token_header,
)
from web.errors import ApiError
from web.keys import DB, HOT, NOTIFIER, RUNNER, SETTINGS
from web.schemas import TEXT_PATTERN, Chars, NonBlank
from web.signatures import SignatureError, Signed, verify_request

# One CLI argument holds at most 128 KiB on Linux; a prompt must fit in it, fences included.
MAX_MESSAGE_CHARS = 30_000
WEBHOOK_ID_HEADER = "X-Webhook-Id"


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _blank_means_absent(max_length: int) -> WithJsonSchema:
    # Zapier sends an unmapped field as "": that means absent, not invalid (and documented so).
    documented = {"type": "string", "maxLength": max_length, "pattern": TEXT_PATTERN}
    return WithJsonSchema(
        {"anyOf": [documented, {"type": "null"}], "description": "Blank means absent."}
    )


BLANK_IS_NONE = BeforeValidator(_blank_is_none)


class WebhookBody(BaseModel):
    # Senders like Zapier add fields of their own: ignore them, but check types strictly.
    model_config = ConfigDict(strict=True, extra="ignore")


class UpworkResponse(WebhookBody):
    client: Annotated[NonBlank, Chars(200)]
    message: Annotated[NonBlank, Chars(MAX_MESSAGE_CHARS)]
    job_title: Annotated[
        Annotated[NonBlank, Chars(500)] | None, BLANK_IS_NONE, _blank_means_absent(500)
    ] = None
    job_link: Annotated[
        Annotated[NonBlank, Chars(2000)] | None, BLANK_IS_NONE, _blank_means_absent(2000)
    ] = None
    platform: Annotated[
        Annotated[NonBlank, Chars(50)] | None, BLANK_IS_NONE, _blank_means_absent(50)
    ] = None
    thread: Annotated[
        Annotated[NonBlank, Chars(255)] | None, BLANK_IS_NONE, _blank_means_absent(255)
    ] = None
    """The sender's own conversation key (a Gmail thread id): its messages share a thread."""


class TriggerRequest(WebhookBody):
    message: Annotated[NonBlank, Chars(MAX_MESSAGE_CHARS)]


class WebhookAccepted(BaseModel):
    accepted: Literal[True] = True
    session_id: str


class MessageAccepted(WebhookAccepted):
    thread_id: str


class WebhookDuplicate(BaseModel):
    accepted: Literal[False] = False
    duplicate: Literal[True] = True


@dataclass(frozen=True)
class SignedEndpoint(Endpoint):
    """An endpoint whose raw body must carry a valid signature before it is even parsed."""

    security: Literal["webhook_hmac"] = "webhook_hmac"

    def as_aiohttp_handler(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            secret = request.app[SETTINGS].webhook_secret
            if secret is None:
                raise ApiError(
                    503, "webhooks_disabled", "Signed webhooks are off: WEBHOOK_SECRET is unset."
                )
            raw = await request.read()
            try:
                signed = verify_request(secret.get_secret_value(), raw, request.headers)
            except SignatureError as error:
                raise ApiError(401, "invalid_signature", str(error)) from None
            assert self.body is not None
            body = parse_body(await read_json_body(request), self.body)
            return await self.handler(request, body=body, signed=signed)

        handle.__name__ = self.handler.__name__
        return handle


async def upwork_response(
    request: web.Request, body: UpworkResponse, signed: Signed
) -> web.Response:
    """The client's message joins its thread (stale drafts superseded, their cards edited);
    a Rafael session is queued on that thread."""
    _require_citizen(request, "rafael", status=503)
    incoming = thread_intake.ClientMessage(
        client=body.client,
        message=body.message,
        job_title=body.job_title,
        job_link=body.job_link,
        platform=body.platform or "upwork",
        key=body.thread,
    )
    prompt = prompts.upwork_response(
        client=body.client,
        message=body.message,
        job_title=body.job_title,
        job_link=body.job_link,
    )
    received: dict[str, Any] = {
        "client": body.client,
        "job_title": body.job_title,
        "job_link": body.job_link,
        "message_chars": len(body.message),
    }

    # The operator sees the client's message at once: it is the session's notice (§14).
    notice = request.app[NOTIFIER].client_message(
        client=body.client, job_title=body.job_title, message=body.message, citizen="rafael"
    )

    async def intake(session: AsyncSession) -> Queued:
        joined = await thread_intake.receive(session=session, incoming=incoming)
        for draft in joined.superseded:
            await request.app[NOTIFIER].draft_changed(session=session, draft=draft)
        given = {**received, "thread_id": joined.thread.id}
        return Queued(prompt, given, joined.thread.id, bool(joined.superseded), notice)

    async def quick(webhook_id: str | None, label: str | None, body_hash: str) -> Outcome:
        stored = await reply_intake.receive(
            hot=request.app[HOT],
            incoming=incoming,
            citizen="rafael",
            trigger="upwork-response",
            prompt=prompt,
            received=received,
            webhook_id=webhook_id,
            label=label,
            body_hash=body_hash,
            route=request.path,
            notice=notice,
        )
        if stored is None:
            return None, None
        return stored.session_id, Queued(prompt, None, stored.thread_id, notice=notice)

    return await _launch(request, signed, "rafael", "upwork-response", intake, quick)


async def trigger_citizen(
    request: web.Request, body: TriggerRequest, signed: Signed
) -> web.Response:
    citizen = request.match_info["citizen"]
    _require_citizen(request, citizen, status=404)
    prompt = prompts.webhook_task(message=body.message)

    async def intake(_session: AsyncSession) -> Queued:
        return Queued(prompt)

    return await _launch(request, signed, citizen, "webhook", intake)


def _require_citizen(request: web.Request, name: str, *, status: int) -> None:
    if citizen_dir(citizens_root(request.app[SETTINGS]), name) is None:
        raise ApiError(
            status,
            "citizen_not_found",
            f"No citizen {name!r} (a CITIZENS_DIR folder with CLAUDE.md).",
        )


@dataclass(frozen=True)
class Queued:
    """What a delivery queues: the session's prompt, and for a client's message what was
    received (for `upwork.response.received@1.0`) and the thread it joined."""

    prompt: str
    received: dict[str, Any] | None = None
    thread_id: str | None = None
    cards_changed: bool = False
    notice: Card | None = None
    """The operator's message about the client's message: the session's notice."""


Outcome = tuple[str | None, Queued | None]
"""The queued session's id and what it queued; (None, None) for a duplicate delivery."""
Quick = Callable[[str | None, str | None, str], Awaitable[Outcome]]
"""The delivery stored on the hot path (storage/repo/reply_intake.py), given its signed id,
its label and its body hash; raises `reply_intake.Superseding` to leave it to `intake`."""


async def _launch(
    request: web.Request,
    signed: Signed,
    citizen: str,
    trigger: str,
    intake: Callable[[AsyncSession], Awaitable[Queued]],
    quick: Quick | None = None,
) -> web.Response:
    """Unless the delivery was seen before: run `intake` and queue the session, with the
    delivery recorded, in one transaction (`quick`'s, when it can)."""
    # The unsigned X-Webhook-Id only labels the delivery (in its event); what is "the same
    # delivery" is decided by what the signature covers (CONTRACT §4).
    label = token_header(request, WEBHOOK_ID_HEADER, meaning="delivery id")
    webhook_id = signed.signed_id
    body_hash = hashlib.sha256(request.path.encode() + b"\n" + signed.signed_bytes).hexdigest()
    session_id: str | None = None
    queued = None
    for last_try in (False, True):
        try:
            outcome = None
            if quick is not None:
                with contextlib.suppress(reply_intake.Superseding):
                    outcome = await quick(webhook_id, label, body_hash)
            if outcome is None:
                outcome = await _queue_once(
                    request, webhook_id, label, body_hash, citizen, trigger, intake
                )
            session_id, queued = outcome
            break
        except IntegrityError:
            # A concurrent twin with the same id may have committed first: a duplicate. Or
            # a concurrent message began the same thread (its key): try again to join it.
            if webhook_id is not None and await _id_seen(request, webhook_id, body_hash):
                session_id = None
                break
            if last_try:
                raise
    if session_id is None or queued is None:
        return json_response(WebhookDuplicate(), status=200)
    if queued.cards_changed or queued.notice is not None:
        request.app[NOTIFIER].kick()
    runner = request.app.get(RUNNER)
    if runner is not None:
        runner.wake()
    if queued.thread_id is not None:
        accepted = MessageAccepted(session_id=session_id, thread_id=queued.thread_id)
        return json_response(accepted, status=202)
    return json_response(WebhookAccepted(session_id=session_id), status=202)


async def _queue_once(
    request: web.Request,
    webhook_id: str | None,
    label: str | None,
    body_hash: str,
    citizen: str,
    trigger: str,
    intake: Callable[[AsyncSession], Awaitable[Queued]],
) -> tuple[str | None, Queued | None]:
    """One transaction: the delivery, unless seen before, with what it queues."""
    async with request.app[DB]() as session, session.begin():
        if await webhook_deliveries.seen(
            session=session, webhook_id=webhook_id, body_hash=body_hash
        ):
            return None, None
        queued = await intake(session)
        row = await citizen_queue.enqueue(
            session=session,
            citizen=citizen,
            trigger=trigger,
            prompt=queued.prompt,
            thread_id=queued.thread_id,
        )
        if queued.notice is not None and queued.thread_id is not None:
            row.notice_outbox_id = await outbox.enqueue(
                session=session,
                chat_id=queued.notice.chat_id,
                text=queued.notice.text,
                thread_id=queued.thread_id,
            )
            session.add(row)
        if queued.received is not None:
            await events.append(
                session=session,
                event="upwork.response.received@1.0",
                payload={
                    **queued.received,
                    "session_id": row.id,
                    "webhook_id": webhook_id or label,
                },
            )
        await webhook_deliveries.record(
            session=session,
            webhook_id=webhook_id,
            body_hash=body_hash,
            route=request.path,
            session_id=row.id,
        )
    return row.id, queued


async def _id_seen(request: web.Request, webhook_id: str, body_hash: str) -> bool:
    async with request.app[DB]() as session:
        return await webhook_deliveries.seen(
            session=session, webhook_id=webhook_id, body_hash=body_hash
        )


_SIGNED_HEADERS = (
    HeaderParam("X-Webhook-Timestamp", "Unix seconds; then the signature covers `{ts}.{body}`."),
    HeaderParam(
        WEBHOOK_ID_HEADER,
        "A label for the delivery (unsigned): it never makes a replayed body new.",
    ),
)
_RESPONSES: dict[int, type[BaseModel] | None] = {202: WebhookAccepted, 200: WebhookDuplicate}
_MESSAGE_RESPONSES: dict[int, type[BaseModel] | None] = {
    202: MessageAccepted,
    200: WebhookDuplicate,
}

ENDPOINTS: list[Endpoint] = [
    SignedEndpoint(
        "POST",
        "/webhook/upwork-response",
        upwork_response,
        "A client's Upwork reply (Zapier): it joins its thread, the thread's pending drafts "
        "are superseded, and a Rafael session is queued on the thread.",
        responses=_MESSAGE_RESPONSES,
        errors=(400, 401, 413, 415, 422, 503),
        body=UpworkResponse,
        headers=_SIGNED_HEADERS,
    ),
    SignedEndpoint(
        "POST",
        "/webhook/trigger/{citizen}",
        trigger_citizen,
        "A manual or scheduled trigger: queues a session of that citizen.",
        responses=_RESPONSES,
        errors=(400, 401, 404, 413, 415, 422, 503),
        body=TriggerRequest,
        headers=_SIGNED_HEADERS,
    ),
]
