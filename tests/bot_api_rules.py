"""What the real Bot API checks before it accepts a message, so the fake refuses the same things.

Telegram parses HTML strictly: a `<` must open or close a supported tag, a `&` must start one
of four named entities or a numeric one, and the text left after parsing must be 1-4096
characters (counted, like every Bot API offset, in UTF-16 code units).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64

SUPPORTED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "span", "tg-spoiler", "tg-emoji", "blockquote",
    }
)  # fmt: skip
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")

# Form values that are always strings, even when they look like JSON ("123", "true").
TEXT_PARAMS = frozenset(
    {
        "text", "caption", "secret_token", "url", "callback_query_id", "inline_query_id",
        "description", "short_description", "name", "title", "query", "language_code",
        "ip_address", "question", "explanation", "emoji", "business_connection_id",
    }
)  # fmt: skip


class BadRequest(Exception):
    """A 400 answer: the description is what Telegram would say."""


def decode_form_value(name: str, value: str) -> Any:
    """PTB sends form fields whose non-string values are JSON-encoded."""
    if name in TEXT_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of Telegram-HTML `text`; BadRequest where Telegram would refuse it."""
    visible: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None or tag.group(2).lower() not in SUPPORTED_TAGS:
                raise BadRequest(
                    "Bad Request: can't parse entities: Unsupported start tag at byte offset "
                    f"{len(text[:position].encode())}"
                )
            closing, name = tag.group(1), tag.group(2).lower()
            if closing:
                if not open_tags or open_tags[-1] != name:
                    raise BadRequest(
                        f"Bad Request: can't parse entities: Unmatched end tag {name!r}"
                    )
                open_tags.pop()
            else:
                open_tags.append(name)
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise BadRequest(
                    "Bad Request: can't parse entities: Can't find end of the entity starting "
                    f"at byte offset {len(text[:position].encode())}"
                )
            visible.append(html.unescape(entity.group()))
            position = entity.end()
        else:
            visible.append(char)
            position += 1
    if open_tags:
        raise BadRequest(
            f"Bad Request: can't parse entities: Can't find end tag {open_tags[-1]!r}"
        )
    return "".join(visible)


def check_message_text(text: Any, parse_mode: Any) -> str:
    """The text Telegram would show for a sendMessage/editMessageText call."""
    if not isinstance(text, str):
        raise BadRequest("Bad Request: message text is empty")
    visible = parse_html(text) if str(parse_mode).upper() == "HTML" else text
    if not visible.strip():
        raise BadRequest("Bad Request: message text is empty")
    if utf16_length(visible) > MAX_TEXT_UTF16:
        raise BadRequest("Bad Request: message is too long")
    return visible


MAX_COPY_TEXT = 256


def check_reply_markup(markup: Any, chat_id: int = 0) -> dict[str, Any] | None:
    """Refuse what Telegram refuses; `web_app` buttons only in a private chat (a positive id),
    with an https URL."""
    if markup is None:
        return None
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not isinstance(markup, dict):
        raise BadRequest("Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise BadRequest("Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise BadRequest("Bad Request: text buttons are unallowed in the inline keyboard")
            if "web_app" in button:
                check_web_app(button["web_app"])
                if chat_id <= 0:
                    raise BadRequest("Bad Request: BUTTON_TYPE_INVALID")
            copy = button.get("copy_text")
            if copy is not None and not 1 <= len(str(copy.get("text", ""))) <= MAX_COPY_TEXT:
                raise BadRequest("Bad Request: BUTTON_COPY_TEXT_INVALID")
    return markup


def check_web_app(web_app: Any) -> None:
    url = web_app.get("url") if isinstance(web_app, dict) else None
    if not isinstance(url, str) or not url.startswith("https://"):
        raise BadRequest("Bad Request: inline keyboard button Web App URL is invalid")


def check_menu_button(button: Any) -> dict[str, Any]:
    """setChatMenuButton's `menu_button`: commands, default, or a web_app with text and URL."""
    if isinstance(button, str):
        button = json.loads(button)
    if not isinstance(button, dict) or button.get("type") not in (
        "commands",
        "web_app",
        "default",
    ):
        raise BadRequest("Bad Request: can't parse menu button")
    if button["type"] == "web_app":
        if not button.get("text"):
            raise BadRequest("Bad Request: menu button text is empty")
        check_web_app(button.get("web_app"))
    return button


async def read_params(request: web.Request) -> dict[str, Any]:
    """A method's parameters from the query, a JSON body, or a form (PTB's way)."""
    params: dict[str, Any] = {k: decode_form_value(k, v) for k, v in request.query.items()}
    if request.content_type == "application/json":
        raw = await request.read()
        params.update(json.loads(raw) if raw.strip() else {})
    elif request.can_read_body:
        form = await request.post()
        params.update(
            {
                k: decode_form_value(k, v) if isinstance(v, str) else _upload(v)
                for k, v in form.items()
            }
        )
    return params


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, kept whole (photos are read from it)."""

    filename: str
    content_type: str
    data: bytes


def _upload(field: Any) -> Upload:
    return Upload(field.filename or "", field.content_type or "", field.file.read())


def error_response(
    status: int, description: str | None, retry_after: int | None = None
) -> web.Response:
    """The Bot API's error body: `ok: false`, the code, a description, maybe `retry_after`."""
    body: dict[str, Any] = {
        "ok": False,
        "error_code": status,
        "description": description or _DESCRIPTIONS.get(status, f"Error {status}"),
    }
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
        body["description"] = description or f"Too Many Requests: retry after {retry_after}"
    return web.json_response(body, status=status)


_DESCRIPTIONS = {
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
