"""The ceiling: a bare aiohttp handler per benchmarked route, doing the same database work with
raw asyncpg (same statements, same pool size) and nothing else: no validation, no ORM, no
middleware. The service is measured as a ratio to this, run side by side on the same database.

Run as `python -m bench.ceiling --port N --dsn postgresql://…`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from citizens import prompts
from storage.engine import POOL_SIZE
from storage.locks import lock_keys


@dataclass(frozen=True)
class Telegram:
    """Where draft notifications go: the fake Bot API, over one keep-alive client."""

    client: aiohttp.ClientSession
    send_url: str
    chat_id: int


POOL = web.AppKey("pool", asyncpg.Pool)
WEBHOOK_SECRET = web.AppKey("webhook_secret", bytes)
TELEGRAM = web.AppKey("telegram", Telegram | None)  # type: ignore[arg-type]

INSERT_EVENT = "INSERT INTO events (event, timestamp, payload) VALUES ($1, $2, $3) RETURNING id"
INSERT_DRAFT = """
    INSERT INTO drafts (id, client, client_key, job_title, message, draft_text, confidence,
                        context, citizen, status, created_at, updated_at)
    VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)
"""
INSERT_OUTBOX = """
    INSERT INTO outbox (chat_id, text, reply_markup, draft_id, status, attempts,
                        next_attempt_at, created_at)
    VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) RETURNING id
"""
CLAIM_SELECT = """
    SELECT id FROM outbox
    WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $2
          AND (claimed_until IS NULL OR claimed_until < $2)
    ORDER BY next_attempt_at, id LIMIT 10 FOR UPDATE SKIP LOCKED
"""
CLAIM_UPDATE = """
    UPDATE outbox SET claimed_by = $3, claimed_until = $4, attempts = attempts + 1
    WHERE id = ANY($1::bigint[]) AND status = 'pending' AND next_attempt_at <= $2
          AND (claimed_until IS NULL OR claimed_until < $2)
    RETURNING id, chat_id, text, reply_markup, draft_id, status, attempts, next_attempt_at,
              claimed_by, claimed_until, message_id, last_error, created_at, sent_at
"""
MARK_SENT = """
    UPDATE outbox SET status = 'sent', message_id = $2, sent_at = $3, claimed_by = NULL,
                      claimed_until = NULL, last_error = NULL
    WHERE id = $1 AND status != 'sent' RETURNING draft_id
"""
SET_MESSAGE_ID = "UPDATE drafts SET telegram_message_id = $2, updated_at = $3 WHERE id = $1"
LEASE = timedelta(seconds=45)
# The draft and its feedback in one statement, as the service reads them: a row per feedback.
SELECT_DRAFT = """
    SELECT d.id, d.client, d.job_title, d.message, d.draft_text, d.confidence, d.context,
           d.citizen, d.status, d.telegram_message_id, d.created_at, d.updated_at, d.note,
           d.thread_id, d.lead_id, d.session_id, d.decided_at, d.sent_at,
           f.kind, f.text AS feedback_text, f.old_text, f.at
    FROM drafts d LEFT JOIN draft_feedback f ON f.draft_id = d.id
    WHERE d.id = $1 ORDER BY f.id
"""
DRAFT_COLUMNS = 18


SELECT_THREAD = """
    SELECT id, platform, client, job_title, job_link, created_at, last_message_at, waiting_since
    FROM threads WHERE id = $1
"""
SELECT_MESSAGES = """
    SELECT direction, text, at, draft_id FROM thread_messages WHERE thread_id = $1 ORDER BY id
"""
SELECT_THREAD_DRAFTS = """
    SELECT id, citizen, status, draft_text, created_at, decided_at, sent_at, note
    FROM drafts WHERE thread_id = $1 ORDER BY created_at, id
"""
SELECT_FEEDBACK = """
    SELECT f.draft_id, f.kind, f.text, f.old_text, f.at
    FROM draft_feedback f JOIN drafts d ON d.id = f.draft_id
    WHERE d.thread_id = $1 ORDER BY f.id
"""
SELECT_SESSIONS = """
    SELECT id, citizen, status, cost_usd FROM sessions WHERE thread_id = $1
    ORDER BY created_at, id
"""
FIND_THREAD_BY_KEY = """
    SELECT id, platform FROM threads WHERE external_key = $1 FOR UPDATE
"""
FIND_THREAD_BY_LINK = """
    SELECT id, platform FROM threads WHERE job_link = $1
    ORDER BY last_message_at DESC, id DESC LIMIT 1 FOR UPDATE
"""
FIND_THREAD_BY_CLIENT = """
    SELECT id, platform FROM threads
    WHERE client_key = $1 AND job_title_key = $2
    ORDER BY last_message_at DESC, id DESC LIMIT 1 FOR UPDATE
"""
INSERT_THREAD = """
    INSERT INTO threads (id, platform, client, client_key, job_title, job_title_key, job_link,
                         external_key, created_at, last_message_at, waiting_since)
    VALUES ($1, $2, $3, $8, $4, $9, $5, $6, $7, $7, $7)
"""
UPDATE_THREAD = """
    UPDATE threads SET job_title = coalesce(job_title, $2), job_link = coalesce(job_link, $3),
        external_key = coalesce(external_key, $4), last_message_at = $5,
        waiting_since = coalesce(waiting_since, $5)
    WHERE id = $1
"""
INSERT_MESSAGE = """
    INSERT INTO thread_messages (thread_id, direction, text, at) VALUES ($1, 'in', $2, $3)
"""
SUPERSEDE = """
    UPDATE drafts SET status = 'superseded', updated_at = $2, decided_at = $2
    WHERE thread_id = $1 AND status = 'pending' RETURNING id
"""
INSERT_SESSION = """
    INSERT INTO sessions (id, citizen, trigger, prompt, status, thread_id, created_at,
                          notice_outbox_id)
    VALUES ($1, 'rafael', 'upwork-response', $2, 'queued', $3, $4, $5)
"""
# The delivery's body and the names of the reply's thread, locked in one round trip.
LOCK_NAMES = "SELECT pg_advisory_xact_lock(key) FROM unnest($1::bigint[]) AS key"
SEEN_BODY = """
    SELECT id FROM webhook_deliveries WHERE body_hash = $1 AND received_at >= $2 LIMIT 1
"""
INSERT_DELIVERY = """
    INSERT INTO webhook_deliveries (body_hash, timestamped, route, session_id, received_at)
    VALUES ($1, false, $2, $3, $4)
"""
DEDUP_WINDOW = timedelta(hours=24)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(document, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


async def log_event(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    now = datetime.now(UTC)
    event_id = await request.app[POOL].fetchval(INSERT_EVENT, body["event"], now, body["payload"])
    return _json({"event_id": event_id, "timestamp": _iso(now)}, status=201)


async def create_draft(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    draft_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    citizen = body.get("citizen", "rafael")
    telegram = request.app[TELEGRAM]
    pool = request.app[POOL]
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            INSERT_DRAFT,
            draft_id,
            body["client"],
            body["job_title"],
            body["message"],
            body["draft_text"],
            body["confidence"],
            body.get("context") or {},
            citizen,
            now,
            body["client"].casefold(),
        )
        payload = {
            "draft_id": draft_id,
            "client": body["client"],
            "job_title": body["job_title"],
            "citizen": citizen,
            "confidence": body["confidence"],
        }
        await connection.fetchval(INSERT_EVENT, "draft.created@1.0", now, payload)
        outbox_id = None
        if telegram is not None:
            card, keyboard = _card(draft_id, body), _keyboard(draft_id)
            outbox_id = await connection.fetchval(
                INSERT_OUTBOX, telegram.chat_id, card, keyboard, draft_id, now
            )
    sent = outbox_id is not None and await _deliver(request.app, outbox_id)
    return _json({"draft_id": draft_id, "status": "pending", "telegram_sent": sent}, 201)


async def _deliver(app: web.Application, outbox_id: int) -> bool:
    """Claim the outbox row, send it, record Telegram's message id: as the service does."""
    telegram = app[TELEGRAM]
    assert telegram is not None
    now = datetime.now(UTC)
    async with app[POOL].acquire() as connection, connection.transaction():
        ids = [r[0] for r in await connection.fetch(CLAIM_SELECT, outbox_id, now)]
        rows = await connection.fetch(CLAIM_UPDATE, ids, now, "ceiling", now + LEASE)
    if not rows:
        return False
    row = rows[0]
    message = {"chat_id": row["chat_id"], "text": row["text"], "parse_mode": "HTML"}
    if row["reply_markup"] is not None:
        message["reply_markup"] = row["reply_markup"]
    async with telegram.client.post(telegram.send_url, json=message) as response:
        answer = await response.json()
    if not answer.get("ok"):
        return False
    message_id = answer["result"]["message_id"]
    async with app[POOL].acquire() as connection, connection.transaction():
        draft_id = await connection.fetchval(MARK_SENT, outbox_id, message_id, datetime.now(UTC))
        if draft_id is not None:
            await connection.execute(SET_MESSAGE_ID, draft_id, message_id, datetime.now(UTC))
    return True


def _card(draft_id: str, body: dict[str, Any]) -> str:
    return (
        f"<b>New draft</b> for {html.escape(body['client'])}\n"
        f"<b>Job:</b> {html.escape(body['job_title'])}\n\n"
        f"{html.escape(body['message'])[:1000]}\n\n"
        f"<b>Draft</b> ({body['confidence']}%):\n{html.escape(body['draft_text'])[:2000]}"
    )


def _keyboard(draft_id: str) -> dict[str, Any]:
    buttons = [
        {"text": label, "callback_data": f"{action}:{draft_id}"}
        for label, action in (("Approve", "approve"), ("Edit", "edit"), ("Reject", "reject"))
    ]
    return {"inline_keyboard": [buttons]}


async def get_draft(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch(SELECT_DRAFT, request.match_info["draft_id"])
    if not rows:
        return _json({"error": {"code": "draft_not_found", "message": "No such draft."}}, 404)
    draft = dict(list(rows[0].items())[:DRAFT_COLUMNS])
    for name in ("created_at", "updated_at", "decided_at", "sent_at"):
        if draft[name] is not None:
            draft[name] = _iso(draft[name])
    draft["feedback"] = [
        {"kind": f[18], "text": f[19], "old_text": f[20], "at": _iso(f[21])}
        for f in rows
        if f[18] is not None
    ]
    return _json(draft)


async def list_events(request: web.Request) -> web.Response:
    query = request.query
    limit = int(query.get("limit", "100"))
    conditions: list[str] = []
    args: list[Any] = []
    if "cursor" in query:
        cursor = query["cursor"]
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
        args.append(key[0])
        conditions.append(f"id < ${len(args)}")
    if "since" in query:
        args.append(datetime.fromisoformat(query["since"]))
        conditions.append(f"timestamp >= ${len(args)}")
    if "event" in query:
        args.append(query["event"])
        conditions.append(f"event = ${len(args)}")
    # Only fixed fragments are joined; every value is a bind parameter.
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args.append(limit + 1)
    # The least work possible: the stored JSON text is spliced in, never decoded.
    sql = f"SELECT id, event, timestamp, payload::text FROM events {where} ORDER BY id DESC"  # noqa: S608
    sql += f" LIMIT ${len(args)}"
    rows = await request.app[POOL].fetch(sql, *args)
    page = rows[:limit]
    items = ",".join(
        f'{{"id":{r[0]},"event":{json.dumps(r[1])},"timestamp":"{_iso(r[2])}","payload":{r[3]}}}'
        for r in page
    )
    next_cursor = "null"
    if len(rows) > limit:
        raw = json.dumps({"l": "events", "k": [page[-1][0]]}, separators=(",", ":"))
        next_cursor = '"' + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") + '"'
    body = f'{{"events":[{items}],"total":{len(page)},"next_cursor":{next_cursor}}}'
    return web.Response(text=body, content_type="application/json")


def _s(value: str | None) -> str:
    return "null" if value is None else str(encode_basestring(value))


def _t(value: datetime | None) -> str:
    return "null" if value is None else f'"{_iso(value)}"'


async def get_thread(request: web.Request) -> web.Response:
    """The least work: the rows of five statements, in one snapshot as the service reads
    them, joined into the document as text."""
    thread_id = request.match_info["thread_id"]
    async with (
        request.app[POOL].acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        thread = await connection.fetchrow(SELECT_THREAD, thread_id)
        if thread is None:
            return _json({"error": {"code": "thread_not_found", "message": "No thread."}}, 404)
        messages = await connection.fetch(SELECT_MESSAGES, thread_id)
        drafts = await connection.fetch(SELECT_THREAD_DRAFTS, thread_id)
        feedback_rows = await connection.fetch(SELECT_FEEDBACK, thread_id) if drafts else []
        sessions = await connection.fetch(SELECT_SESSIONS, thread_id)
    feedback: dict[str, list[str]] = defaultdict(list)
    for f in feedback_rows:
        feedback[f[0]].append(
            f'{{"kind":{_s(f[1])},"text":{_s(f[2])},"old_text":{_s(f[3])},"at":{_t(f[4])}}}'
        )
    t = thread
    body = "".join(
        (
            f'{{"id":{_s(t[0])},"platform":{_s(t[1])},"client":{_s(t[2])},'
            f'"job_title":{_s(t[3])},"job_link":{_s(t[4])},"created_at":{_t(t[5])},'
            f'"last_message_at":{_t(t[6])},"waiting_since":{_t(t[7])},"messages":[',
            ",".join(
                f'{{"direction":"{m[0]}","text":{_s(m[1])},"at":{_t(m[2])},"draft_id":{_s(m[3])}}}'
                for m in messages
            ),
            '],"drafts":[',
            ",".join(
                f'{{"id":{_s(d[0])},"citizen":{_s(d[1])},"status":{_s(d[2])},'
                f'"draft_text":{_s(d[3])},"created_at":{_t(d[4])},"decided_at":{_t(d[5])},'
                f'"sent_at":{_t(d[6])},"note":{_s(d[7])},"feedback":[{",".join(feedback[d[0]])}]}}'
                for d in drafts
            ),
            '],"sessions":[',
            ",".join(
                f'{{"id":{_s(s[0])},"citizen":{_s(s[1])},"status":{_s(s[2])},'
                f'"cost_usd":{"null" if s[3] is None else repr(s[3])}}}'
                for s in sessions
            ),
            "]}",
        )
    )
    return web.Response(text=body, content_type="application/json")


async def upwork_response(request: web.Request) -> web.Response:
    """Check the signature, then what the service writes for a client's reply, in one
    transaction: the delivery unless seen, the thread found or begun, the message, pending
    drafts superseded, the session queued, and their events."""
    raw = await request.read()
    given = request.headers.get("X-Webhook-Signature", "")
    expected = hmac.new(request.app[WEBHOOK_SECRET], raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected):
        return _json({"error": {"code": "invalid_signature", "message": "Bad."}}, 401)
    body = json.loads(raw)
    body_hash = hashlib.sha256(request.path.encode() + b"\n" + raw).hexdigest()
    client, message = body["client"], body["message"]
    job_title, job_link, key = body.get("job_title"), body.get("job_link"), body.get("thread")
    now = datetime.now(UTC)
    prompt = prompts.upwork_response(
        client=client, message=message, job_title=job_title, job_link=job_link
    )
    session_id = str(uuid.uuid4())
    telegram = request.app[TELEGRAM]
    client_key = client.casefold()
    names = [
        ("webhook-body", body_hash),
        ("thread-client", client_key, (job_title or "").casefold()),
    ]
    if key is not None:
        names.append(("thread-key", key))
    if job_link is not None:
        names.append(("thread-link", job_link))

    async def store() -> tuple[str, int | None] | None:
        """The transaction; None when the delivery was seen before."""
        async with request.app[POOL].acquire() as connection, connection.transaction():
            await connection.execute(LOCK_NAMES, lock_keys(names))
            if await connection.fetchval(SEEN_BODY, body_hash, now - DEDUP_WINDOW) is not None:
                return None
            thread = None
            if key is not None:
                thread = await connection.fetchrow(FIND_THREAD_BY_KEY, key)
            if thread is None and job_link is not None:
                thread = await connection.fetchrow(FIND_THREAD_BY_LINK, job_link)
            if thread is None and job_title is not None:
                thread = await connection.fetchrow(
                    FIND_THREAD_BY_CLIENT, client_key, job_title.casefold()
                )
            if thread is None:
                thread_id, platform = str(uuid.uuid4()), body.get("platform") or "upwork"
                await connection.execute(
                    INSERT_THREAD,
                    thread_id,
                    platform,
                    client,
                    job_title,
                    job_link,
                    key,
                    now,
                    client_key,
                    None if job_title is None else job_title.casefold(),
                )
            else:
                thread_id, platform = thread[0], thread[1]
                await connection.execute(UPDATE_THREAD, thread_id, job_title, job_link, key, now)
            await connection.execute(INSERT_MESSAGE, thread_id, message, now)
            superseded = [r[0] for r in await connection.fetch(SUPERSEDE, thread_id, now)]
            # The session's notice, as the service's runner queues it (and sends it, below).
            notice_id = None
            if telegram is not None:
                notice = (
                    f"🕐 <b>rafael</b> session queued\n<code>{session_id}</code> · upwork-response"
                )
                notice_id = await connection.fetchval(
                    INSERT_OUTBOX, telegram.chat_id, notice, None, None, now
                )
            await connection.execute(INSERT_SESSION, session_id, prompt, thread_id, now, notice_id)
            received = {
                "client": client,
                "job_title": job_title,
                "job_link": job_link,
                "message_chars": len(message),
                "thread_id": thread_id,
                "session_id": session_id,
                "webhook_id": None,
            }
            events: list[tuple[str, datetime, Any]] = [
                (
                    "thread.message.received@1.0",
                    now,
                    {
                        "thread_id": thread_id,
                        "client": client,
                        "platform": platform,
                        "new_thread": thread is None,
                        "message_chars": len(message),
                    },
                ),
                *(
                    (
                        "draft.superseded@1.0",
                        now,
                        {"draft_id": d, "thread_id": thread_id, "reason": "client_wrote"},
                    )
                    for d in superseded
                ),
                (
                    "citizen.session.queued@1.0",
                    now,
                    {"session_id": session_id, "citizen": "rafael", "trigger": "upwork-response"},
                ),
                ("upwork.response.received@1.0", now, received),
            ]
            await connection.executemany(INSERT_EVENT, events)
            await connection.execute(INSERT_DELIVERY, body_hash, request.path, session_id, now)
        return thread_id, notice_id

    for last_try in (False, True):
        try:
            stored = await store()
            break
        except asyncpg.UniqueViolationError:
            # A concurrent first message began the same thread: join it (as the service).
            if last_try:
                raise
    if stored is None:
        return _json({"accepted": False, "duplicate": True})
    thread_id, notice_id = stored
    if notice_id is not None:
        await _deliver(request.app, notice_id)
    accepted = {"accepted": True, "session_id": session_id, "thread_id": thread_id}
    return _json(accepted, 202)


async def health(_request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _init_connection(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def create_app(dsn: str, telegram_url: str | None, chat_id: int | None) -> web.Application:
    async def resources(app: web.Application) -> Any:
        app[WEBHOOK_SECRET] = os.environ.get("BENCH_WEBHOOK_SECRET", "").encode()
        app[POOL] = await asyncpg.create_pool(
            dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, init=_init_connection
        )
        app[TELEGRAM] = None
        if telegram_url is not None and chat_id is not None:
            client = aiohttp.ClientSession()
            app[TELEGRAM] = Telegram(client, f"{telegram_url}/sendMessage", chat_id)
        yield
        if app[TELEGRAM] is not None:
            await app[TELEGRAM].client.close()
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.router.add_get("/health", health)
    app.router.add_post("/api/event/log", log_event)
    app.router.add_post("/api/draft/create", create_draft)
    app.router.add_get("/api/draft/{draft_id}", get_draft)
    app.router.add_get("/api/events", list_events)
    app.router.add_get("/api/thread/{thread_id}", get_thread)
    app.router.add_post("/webhook/upwork-response", upwork_response)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument(
        "--telegram-url", help="the Bot API root with the token: {base}/bot{token}"
    )
    parser.add_argument("--chat-id", type=int)
    args = parser.parse_args()
    app = create_app(args.dsn, args.telegram_url, args.chat_id)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
