"""A delivery webhook receiver on loopback that fails on demand, and checks what it gets.

It verifies every request as a receiver would, with the `standardwebhooks` library's own
`Webhook.verify` and the shared secret, and records it. Answers are scripted: the next
requests get 500, 429 with a `Retry-After`, 410, or a slow answer; `refuse_connections()`
takes it off the network (clients are refused) until `accept_connections()`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_dGVzdC1kZWxpdmVyeS1rZXktOGYzYTFjOWU="
"""A Standard Webhooks secret: `whsec_` + base64("test-delivery-key-8f3a1c9e")."""


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int
    """What the receiver answered."""
    at: float
    """time.monotonic() on arrival."""

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    delay_s: float = 0.0


class Receiver:
    def __init__(self, secret: str = SECRET) -> None:
        self._webhook = Webhook(secret)
        self.received: list[Received] = []
        self._script: deque[_Answer] = deque()
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks/scopelock"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/scopelock", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self.accept_connections()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def refuse_connections(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def accept_connections(self) -> None:
        assert self._runner is not None
        if self._site is None:
            sock = socket.create_server(("127.0.0.1", self._port))
            self._port = sock.getsockname()[1]
            self._site = web.SockSite(self._runner, sock)
            await self._site.start()

    def answer_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next `times` requests with `status` (after `delay_s`)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._script.extend(_Answer(status, headers, delay_s) for _ in range(times))

    def clear_script(self) -> None:
        """Answer 200 from now on."""
        self._script.clear()

    def accepted(self) -> list[Received]:
        """The requests answered 2xx."""
        return [r for r in self.received if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            self._webhook.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        answer = self._script.popleft() if self._script else _Answer(200, {})
        if not verified:
            answer = _Answer(401, {})
        self.received.append(Received(headers, body, verified, answer.status, time.monotonic()))
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return web.json_response(
            {"ok": answer.status < 300}, status=answer.status, headers=answer.headers
        )
