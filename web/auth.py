"""Bearer-token authentication of `/api/*` when `API_TOKEN` is set."""

from __future__ import annotations

import hmac

from aiohttp import web

from web.errors import ApiError, Handler


def bearer_auth_middleware(token: str) -> web.middleware:  # type: ignore[valid-type]
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "").encode()
            if not given:
                raise ApiError(401, "unauthorized", "Missing Authorization: Bearer header.")
            if not hmac.compare_digest(given, expected):
                raise ApiError(401, "unauthorized", "Invalid API token.")
        return await handler(request)

    return check_bearer
