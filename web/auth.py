"""Bearer-token authentication of `/api/*` when `API_TOKEN` is set."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from web.errors import ApiError, Handler
from web.session_auth import SESSION_CALLER


def bearer_auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def check_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A running session's token was checked (and scoped) by the session-token middleware.
        if request.path.startswith("/api/") and SESSION_CALLER not in request:
            header = request.headers.get("Authorization", "")
            if not header:
                raise ApiError(401, "unauthorized", "Missing Authorization: Bearer header.")
            # The scheme is case-insensitive (RFC 9110); the token itself is compared exactly,
            # in constant time.
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer":
                raise ApiError(
                    401,
                    "unauthorized",
                    "The Authorization header must be 'Bearer <token>': "
                    "its 'Bearer ' prefix is missing.",
                )
            if not hmac.compare_digest(given.strip().encode(errors="replace"), expected):
                raise ApiError(401, "unauthorized", "Invalid API token.")
        return await handler(request)

    return check_bearer
