"""The REST calls behind `scopelock mcp`: one aiohttp request each, errors as short sentences.

Reads `BACKEND_API_URL` and `SCOPELOCK_SESSION_TOKEN` from the environment the citizen CLI
gave the server; the token is sent as `Authorization: Bearer …` and appears in no message.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

TIMEOUT_S = 30.0


class ApiCallError(Exception):
    """A call that failed: the message is what the model reads (the API's own words)."""


async def call(
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`method path` on the service; the decoded JSON answer, or ApiCallError."""
    base = os.environ.get("BACKEND_API_URL", "").rstrip("/")
    if not base:
        raise ApiCallError("BACKEND_API_URL is not set: this server runs inside a session.")
    headers = {"Accept": "application/json"}
    token = os.environ.get("SCOPELOCK_SESSION_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(method, base + path, json=body, params=query, headers=headers) as answer,
        ):
            try:
                document = await answer.json(content_type=None)
            except ValueError:
                document = None
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ApiCallError(
            f"The ScopeLock API at {base} could not be reached ({type(error).__name__})."
        ) from None
    if status >= 400:
        raise ApiCallError(_error_text(status, document))
    if not isinstance(document, dict):
        raise ApiCallError(f"The ScopeLock API answered {status} without a JSON object.")
    return document


def _error_text(status: int, document: Any) -> str:
    """`422 validation_error: confidence: …` from the contract's error shape."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return f"The ScopeLock API answered {status}."
    text = f"{status} {error.get('code', 'error')}: {error.get('message', '')}".strip()
    details = error.get("details")
    if isinstance(details, list) and len(details) > 1:
        text += " Also: " + "; ".join(
            f"{item.get('field')}: {item.get('message')}"
            for item in details[1:5]
            if isinstance(item, dict)
        )
    return text
