"""`GET /api/openapi.json`, generated from the declared endpoints and their pydantic models."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.endpoints import Endpoint
from web.schemas import ErrorBody

REF = "#/components/schemas/{model}"
_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "API_TOKEN, when it is set; or a running citizen session's token "
        "(SCOPELOCK_SESSION_TOKEN), which may use only the citizens' routes (403 elsewhere).",
    },
    "webhook_hmac": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Webhook-Signature",
        "description": "Hex HMAC-SHA256 of the raw body (or of `{timestamp}.{body}` when "
        "X-Webhook-Timestamp is sent) under WEBHOOK_SECRET. Standard Webhooks headers are "
        "accepted instead: `webhook-id`, `webhook-timestamp` and `webhook-signature: "
        "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`.",
    },
    "telegram_secret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Telegram-Bot-Api-Secret-Token",
    },
}


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for endpoint in endpoints:
        models.update(m for m in endpoint.responses.values() if m is not None)
        if endpoint.body is not None:
            models.add(endpoint.body)
    _, schemas = models_json_schema(
        [(m, "validation" if _is_request(m, endpoints) else "serialization") for m in models],
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ScopeLock", "version": version("scopelock")},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def _is_request(model: type[BaseModel], endpoints: list[Endpoint]) -> bool:
    return any(endpoint.body is model for endpoint in endpoints)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "parameters": _parameters(endpoint),
        "responses": {},
    }
    if endpoint.security is not None:
        operation["security"] = [{endpoint.security: []}]
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    for status, model in endpoint.responses.items():
        response: dict[str, Any] = {"description": "Success" if status < 300 else "Error"}
        if model is not None:
            response["content"] = {"application/json": {"schema": _ref(model)}}
        operation["responses"][str(status)] = response
    for status in endpoint.errors:
        operation["responses"][str(status)] = {
            "description": "Error",
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return operation


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=REF)
        for name, prop in schema["properties"].items():
            prop.pop("title", None)
            parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    for header in endpoint.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    return parameters


def openapi_endpoint(endpoints: list[Endpoint]) -> Endpoint:
    """The endpoint serving the document of `endpoints` (itself included)."""

    async def get_openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    endpoint = Endpoint(
        "GET",
        "/api/openapi.json",
        get_openapi,
        "This document.",
        responses={200: None},
        errors=(401,),
    )
    document = build_openapi([*endpoints, endpoint])
    return endpoint
