"""Photos sent to the fake Bot API (sendPhoto, sendMediaGroup), checked as Telegram would.

Uploads arrive as multipart files: `sendPhoto` names the file in its `photo` field, an album's
`media` items point at theirs with `attach://<field>`. Only PNG and JPEG pass; a caption
(HTML like a text) is at most 1024 characters; an album holds 2-10 items.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

from tests.bot_api_rules import BadRequest, Upload, check_message_text, utf16_length

MAX_CAPTION_UTF16 = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Photo:
    """One photo as the fake received it: the chat, the bytes, the caption's visible text."""

    chat_id: int
    message_id: int
    data: bytes
    filename: str
    caption: str | None
    width: int
    height: int


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG (from its IHDR) or a JPEG; BadRequest for anything else."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return 0, 0
    raise BadRequest("Bad Request: IMAGE_PROCESS_FAILED")


def _caption(params: dict[str, Any]) -> str | None:
    caption = params.get("caption")
    if caption is None or caption == "":
        return None
    visible = check_message_text(caption, params.get("parse_mode"))
    if utf16_length(visible) > MAX_CAPTION_UTF16:
        raise BadRequest("Bad Request: message caption is too long")
    return visible


def _upload(value: Any, params: dict[str, Any]) -> Upload:
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if not isinstance(value, Upload):
        raise BadRequest("Bad Request: wrong file identifier/HTTP URL specified")
    return value


class PhotoStore:
    """Builds the photo messages; `photos` keeps every one, in order."""

    def __init__(self, messages: Any) -> None:
        self.messages = messages
        self.photos: list[Photo] = []

    def send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        upload = _upload(params.get("photo"), params)
        return self._message(chat_id, upload, _caption(params))

    def send_media_group(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = int(params["chat_id"])
        items = params.get("media")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise BadRequest("Bad Request: wrong number of messages in the album")
        checked = []
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "photo":
                raise BadRequest("Bad Request: unsupported media type in the album")
            caption = _caption({"parse_mode": params.get("parse_mode"), **item})
            checked.append((_upload(item.get("media"), params), caption))
        return [self._message(chat_id, upload, caption) for upload, caption in checked]

    def _message(self, chat_id: int, upload: Upload, caption: str | None) -> dict[str, Any]:
        width, height = image_size(upload.data)
        message_id = self.messages.next_id()
        photo = Photo(chat_id, message_id, upload.data, upload.filename, caption, width, height)
        self.photos.append(photo)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.messages.chat(chat_id),
            "from": self.messages.bot_user,
            "photo": [
                {
                    "file_id": f"photo-{message_id}",
                    "file_unique_id": f"p{message_id}",
                    "width": width,
                    "height": height,
                    "file_size": len(upload.data),
                }
            ],
        }
        if caption is not None:
            message["caption"] = caption
        self.messages.messages[(chat_id, message_id)] = message
        return message
