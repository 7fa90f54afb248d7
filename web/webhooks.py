"""Signed webhooks (CONTRACT §4): Zapier's Upwork replies and manual or scheduled triggers.

The signature is checked on the raw bytes before anything is parsed, stored or launched. A
delivery is recorded in the transaction that queues its session, so a failure on our side
leaves it unseen, and the sender's retry (Zapier replays the same signed bytes) goes through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from sqlalchemy.exc import IntegrityError

from citizens import prompts
from citizens.directory import citizen_dir, citizens_root
from storage.models import Draft
from storage.repo import reply_intake
from storage.repo.draft_intake import Card
from storage.repo.thread_intake import ClientMessage
from storage.repo.webhook_deliveries import Delivery
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
    reply = ClientMessage(
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
    return await _launch(
        request,
        signed,
        "rafael",
        "upwork-response",
        prompt,
        reply=reply,
        received=received,
        notice=notice,
    )


async def trigger_citizen(
    request: web.Request, body: TriggerRequest, signed: Signed
) -> web.Response:
    citizen = request.match_info["citizen"]
    _require_citizen(request, citizen, status=404)
    prompt = prompts.webhook_task(message=body.message)
    return await _launch(request, signed, citizen, "webhook", prompt)


def _require_citizen(request: web.Request, name: str, *, status: int) -> None:
    if citizen_dir(citizens_root(request.app[SETTINGS]), name) is None:
        raise ApiError(
            status,
            "citizen_not_found",
            f"No citizen {name!r} (a CITIZENS_DIR folder with CLAUDE.md).",
        )


async def _launch(
    request: web.Request,
    signed: Signed,
    citizen: str,
    trigger: str,
    prompt: str,
    *,
    reply: ClientMessage | None = None,
    received: dict[str, Any] | None = None,
    notice: Card | None = None,
) -> web.Response:
    """Unless the delivery was seen before: store it with what it brings and queue the
    session, in one transaction (storage/repo/reply_intake.py)."""
    # The unsigned X-Webhook-Id only labels the delivery (in its event); what is "the same
    # delivery" is decided by what the signature covers (CONTRACT §4).
    label = token_header(request, WEBHOOK_ID_HEADER, meaning="delivery id")
    delivery = Delivery(
        webhook_id=signed.signed_id,
        body_hash=hashlib.sha256(request.path.encode() + b"\n" + signed.signed_bytes).hexdigest(),
        timestamped=signed.timestamped,
        route=request.path,
    )
    try:
        stored = await reply_intake.receive(
            hot=request.app[HOT],
            delivery=delivery,
            label=label,
            citizen=citizen,
            trigger=trigger,
            prompt=prompt,
            reply=reply,
            received=received,
            notice=notice,
        )
    except IntegrityError:
        # A concurrent twin with the same signed id committed first: this one is its
        # duplicate (identical bodies and new threads take locks instead).
        if delivery.webhook_id is None or not await reply_intake.seen_before(
            hot=request.app[HOT], delivery=delivery
        ):
            raise
        stored = None
    if stored is None:
        return json_response(WebhookDuplicate(), status=200)
    if stored.superseded:
        await _show_superseded(request, stored.superseded)
    elif notice is not None:
        request.app[NOTIFIER].kick()
    runner = request.app.get(RUNNER)
    if runner is not None:
        runner.wake()
    if stored.thread_id is not None:
        accepted = MessageAccepted(session_id=stored.session_id, thread_id=stored.thread_id)
        return json_response(accepted, status=202)
    return json_response(WebhookAccepted(session_id=stored.session_id), status=202)


async def _show_superseded(request: web.Request, draft_ids: Sequence[str]) -> None:
    """Queue the edits that show each superseded draft's cards without buttons.

    In a transaction after the reply's: should the process stop in between, a tap on such
    a card finds the draft decided and brings the card up to date then."""
    notifier = request.app[NOTIFIER]
    async with request.app[DB]() as session, session.begin():
        for draft_id in draft_ids:
            draft = await session.get(Draft, draft_id)
            if draft is not None:
                await notifier.draft_changed(session=session, draft=draft)
    notifier.kick()


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
