"""Declared endpoints: one record per route drives both request validation and the OpenAPI doc.

A handler receives its validated `body` and/or `query` model, so what `/api/openapi.json`
describes is exactly what the server checks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from web.errors import ApiError

Security = Literal["bearer", "webhook_hmac", "telegram_secret"] | None
EndpointHandler = Callable[..., Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
MAX_TOKEN_HEADER = 255


@dataclass(frozen=True)
class HeaderParam:
    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: EndpointHandler
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    security: Security = "bearer"
    headers: tuple[HeaderParam, ...] = field(default_factory=tuple)

    def as_aiohttp_handler(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            if self.query is not None:
                kwargs["query"] = parse_query(request, self.query)
            if self.body is not None:
                kwargs["body"] = parse_body(await read_json_body(request), self.body)
            return await self.handler(request, **kwargs)

        handle.__name__ = self.handler.__name__
        return handle


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json().encode(), status=status, content_type="application/json"
    )


async def read_json_body(request: web.Request) -> bytes:
    """The raw body, once its content type says JSON (415 otherwise); 413 past the size limit."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "The body must be application/json.")
    return await request.read()


def parse_body(raw: bytes, model: type[M]) -> M:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "The body is not valid UTF-8.") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise ApiError(422, "validation_error", "The body is nested too deeply.") from None
    if not isinstance(document, dict):
        raise ApiError(422, "validation_error", "The body must be a JSON object.")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise validation_error(error, status=422, code="validation_error") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_query(request: web.Request, model: type[M]) -> M:
    query = request.query
    repeated = sorted({key for key in query if len(query.getall(key)) > 1})
    if repeated:
        raise ApiError(400, "invalid_query", f"Query parameter {repeated[0]!r} is repeated.")
    try:
        return model.model_validate(dict(query))
    except ValidationError as error:
        raise validation_error(error, status=400, code="invalid_query") from None


def validation_error(error: ValidationError, *, status: int, code: str) -> ApiError:
    details = [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "body",
            "message": item["msg"].removeprefix("Value error, "),
        }
        for item in error.errors(include_url=False, include_input=False)
    ]
    first = details[0]
    return ApiError(status, code, f"{first['field']}: {first['message']}.", details)


def add_endpoints(app: web.Application, endpoints: list[Endpoint]) -> None:
    """Route every endpoint; a fixed path takes its other methods itself (405), so that a
    templated path registered later (`/api/draft/{id}`) never answers for it."""
    methods: dict[str, list[str]] = {}
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, endpoint.as_aiohttp_handler())
        methods.setdefault(endpoint.path, []).append(endpoint.method)
    for path, allowed in methods.items():
        if "{" not in path:
            app.router.add_route(hdrs.METH_ANY, path, _method_not_allowed(allowed))


def _method_not_allowed(
    allowed: list[str],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def method_not_allowed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return method_not_allowed


def token_header(request: web.Request, name: str, *, meaning: str) -> str | None:
    """An optional key-like header (1-255 printable characters), or a 422 naming it."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_TOKEN_HEADER or not value.isprintable():
        raise ApiError(
            422,
            "validation_error",
            f"{name} must be 1-{MAX_TOKEN_HEADER} printable characters.",
            [{"field": name, "message": f"invalid {meaning}"}],
        )
    return value
