"""The error shape of every failed request, and the middleware that produces it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from sqlalchemy import exc as sa_exc

from storage.engine import error_chain

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

# What an unreachable or restarting database raises somewhere between the pool and the driver.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # a fast shutdown ending our session
    asyncpg.CrashShutdownError,
    # The server answers but will not serve us: no connection slot left, out of memory or
    # disk, the database gone, or credentials it no longer accepts.
    asyncpg.InsufficientResourcesError,
    asyncpg.InvalidCatalogNameError,
    # "database ... is not currently accepting connections" (ALLOW_CONNECTIONS false); the
    # service issues nothing else that raises this state.
    asyncpg.ObjectNotInPrerequisiteStateError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InterfaceError,
)


class ApiError(Exception):
    """An error the client caused (or the 503 it must wait out), in the contract's shape."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.details)


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": error}, status=status, headers=headers)


def is_database_down(error: BaseException) -> bool:
    """True when `error`, or the driver error it wraps, says the database is unreachable.

    SQLAlchemy translates some driver errors into a plain DBAPIError (asyncpg's "the database
    system is starting up" among them), so the original cause is looked at too.
    """
    return any(
        isinstance(wrapped, DATABASE_DOWN)
        or (isinstance(wrapped, sa_exc.DBAPIError) and wrapped.connection_invalidated)
        for wrapped in error_chain(error)
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "http_error")
        message = {
            404: f"No route matches {request.method} {request.path}.",
            405: f"{request.method} is not allowed on {request.path}.",
            413: "The request body is larger than 1 MiB.",
        }.get(error.status, error.reason)
        response = error_response(error.status, code, message)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception as error:
        if is_database_down(error):
            log.warning(
                "database unavailable during %s %s: %s",
                request.method,
                request.path,
                type(error).__name__,
            )
            return error_response(
                503, "database_unavailable", "The database is unreachable; try again shortly."
            )
        log.exception("unhandled error during %s %s", request.method, request.path)
        return error_response(500, "internal_error", "An unexpected error occurred.")
