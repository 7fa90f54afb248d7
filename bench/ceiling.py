"""The ceiling: a bare aiohttp handler per benchmarked route, doing the same database work with
raw asyncpg (same statements, same pool size) and nothing else: no validation, no ORM, no
middleware. The service is measured as a ratio to this, run side by side on the same database.

Run as `python -m bench.ceiling --port N --dsn postgresql://…`.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from storage.engine import POOL_SIZE


@dataclass(frozen=True)
class Telegram:
    """Where draft notifications go: the fake Bot API, over one keep-alive client."""

    client: aiohttp.ClientSession
    send_url: str
    chat_id: int


POOL = web.AppKey("pool", asyncpg.Pool)
TELEGRAM = web.AppKey("telegram", Telegram | None)  # type: ignore[arg-type]

INSERT_EVENT = "INSERT INTO events (event, timestamp, payload) VALUES ($1, $2, $3) RETURNING id"
INSERT_DRAFT = """
    INSERT INTO drafts (id, client, job_title, message, draft_text, confidence, context,
                        citizen, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)
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
SELECT_DRAFT = """
    SELECT id, client, job_title, message, draft_text, confidence, context, citizen, status,
           telegram_message_id, created_at, updated_at
    FROM drafts WHERE id = $1
"""


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
    message = {
        "chat_id": row["chat_id"],
        "text": row["text"],
        "parse_mode": "HTML",
        "reply_markup": row["reply_markup"],
    }
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
    row = await request.app[POOL].fetchrow(SELECT_DRAFT, request.match_info["draft_id"])
    if row is None:
        return _json({"error": {"code": "draft_not_found", "message": "No such draft."}}, 404)
    draft = dict(row)
    draft["created_at"] = _iso(draft["created_at"])
    draft["updated_at"] = _iso(draft["updated_at"])
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


async def health(_request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _init_connection(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def create_app(dsn: str, telegram_url: str | None, chat_id: int | None) -> web.Application:
    async def resources(app: web.Application) -> Any:
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
