"""What the Mini App's API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from web.schemas import Chars, DraftOut, NonBlank, RequestBody, UtcDatetime

EXCERPT_CHARS = 160
ALLOWED_WITH = {"text": ("edit", "approve"), "reason": ("reject",), "instruction": ("redraft",)}


def _text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be the draft's updated_at as the API gave it")
    return value


class DraftAction(RequestBody):
    """One operator action on a draft; `updated_at` is the version the page showed."""

    action: Literal["edit", "approve", "reject", "redraft"]
    text: Annotated[NonBlank, Field(max_length=20_000)] | None = None
    reason: Annotated[NonBlank, Chars(1000)] | None = None
    instruction: Annotated[NonBlank, Chars(2000)] | None = None
    updated_at: Annotated[UtcDatetime, Field(strict=False), BeforeValidator(_text)] | None = None

    @model_validator(mode="after")
    def needs_its_field(self) -> DraftAction:
        needed = {"edit": "text", "redraft": "instruction"}.get(self.action)
        if needed is not None and getattr(self, needed) is None:
            raise ValueError(f"{needed} is required to {self.action}")
        for field, actions in ALLOWED_WITH.items():
            if getattr(self, field) is not None and self.action not in actions:
                raise ValueError(f"{field} does not go with {self.action}")
        return self


class MiniDraft(DraftOut):
    low_confidence: bool
    waiting_since: datetime


class PendingDraft(BaseModel):
    id: str
    client: str
    job_title: str
    citizen: str
    confidence: int
    low_confidence: bool
    note: str | None
    thread_id: str | None
    created_at: datetime
    updated_at: datetime
    waiting_since: datetime
    excerpt: str


class WaitingThread(BaseModel):
    """A client who waits with no pending draft (CONTRACT §14)."""

    thread_id: str
    client: str
    job_title: str | None
    waiting_since: datetime
    state: str = Field(description="What is happening for this client, in a few words.")


class PendingPage(BaseModel):
    drafts: list[PendingDraft] = Field(description="Oldest first.")
    waiting: list[WaitingThread] = Field(
        default_factory=list, description="Clients waiting with no draft, the longest first."
    )
    now: datetime = Field(description="The server's clock, to show waiting times against.")
