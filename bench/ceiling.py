"""The ceiling: a bare aiohttp handler per benchmarked route, doing the same database work with
raw asyncpg (same statements, same pool size) and nothing else: no validation, no ORM, no
middleware. The service is measured as a ratio to this, run side by side on the same database.

Run as `python -m bench.ceiling --port N --dsn postgresql://…`.
"""

from __future__ import annotations

import argparse
import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from storage.engine import POOL_MAX_SIZE

POOL = web.AppKey("pool", asyncpg.Pool)

INSERT_EVENT = "INSERT INTO events (event, timestamp, payload) VALUES ($1, $2, $3) RETURNING id"
INSERT_DRAFT = """
    INSERT INTO drafts (id, client, job_title, message, draft_text, confidence, context,
                        citizen, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)
"""
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
    async with request.app[POOL].acquire() as connection, connection.transaction():
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
    return _json({"draft_id": draft_id, "status": "pending", "telegram_sent": False}, 201)


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
    sql = f"SELECT id, event, timestamp, payload FROM events {where} ORDER BY id DESC"  # noqa: S608
    sql += f" LIMIT ${len(args)}"
    rows = await request.app[POOL].fetch(sql, *args)
    page = [
        {"id": r["id"], "event": r["event"], "timestamp": _iso(r["timestamp"]), "payload": r[3]}
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        raw = json.dumps({"l": "events", "k": [page[-1]["id"]]}, separators=(",", ":"))
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return _json({"events": page, "total": len(page), "next_cursor": next_cursor})


async def health(_request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _init_connection(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def create_app(dsn: str) -> web.Application:
    async def pool_ctx(app: web.Application) -> Any:
        app[POOL] = await asyncpg.create_pool(
            dsn, min_size=POOL_MAX_SIZE, max_size=POOL_MAX_SIZE, init=_init_connection
        )
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
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
    args = parser.parse_args()
    web.run_app(
        create_app(args.dsn), host="127.0.0.1", port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
