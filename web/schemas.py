"""Request and response models: they validate requests and generate `/api/openapi.json`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

EVENT_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*@[0-9]+\.[0-9]+$"
EVENT_FILTER_PATTERN = r"^([a-z][a-z0-9_]*(\.[a-z0-9_]+)*@[0-9]+\.[0-9]+|[a-z0-9_.@]*\*)$"
CITIZEN_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _storable_json(value: Any) -> Any:
    """Refuse what neither database can store: NUL characters and non-finite numbers."""
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Text = Annotated[str, AfterValidator(_no_nul)]
NonBlank = Annotated[str, AfterValidator(_no_nul), AfterValidator(_not_blank)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def Bounded(max_length: int) -> Any:
    return Annotated[NonBlank, StringConstraints(min_length=1, max_length=max_length)]


class RequestBody(BaseModel):
    """Strict JSON bodies: no coercion ("85" is not an integer), no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors ---


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    error: ErrorInfo


# --- health ---


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    telegram: Literal["ok", "disabled", "degraded"]


# --- drafts ---

DraftStatus = Literal["pending", "approved", "rejected"]


class DraftCreate(RequestBody):
    client: Bounded(200)  # type: ignore[valid-type]
    job_title: Bounded(500)  # type: ignore[valid-type]
    message: Text
    draft_text: NonBlank
    confidence: int = Field(ge=0, le=100)
    context: JsonObject | None = None
    citizen: Annotated[str, StringConstraints(pattern=CITIZEN_PATTERN)] = "rafael"


class DraftCreated(Response):
    draft_id: str
    status: DraftStatus
    telegram_sent: bool


class DraftOut(Response):
    id: str
    client: str
    job_title: str
    message: str
    draft_text: str
    confidence: int
    context: dict[str, Any]
    citizen: str
    status: DraftStatus
    telegram_message_id: int | None
    created_at: datetime
    updated_at: datetime


class DraftsQuery(Query):
    status: DraftStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class DraftPage(Response):
    drafts: list[DraftOut]
    next_cursor: str | None


# --- events ---


class EventCreate(RequestBody):
    event: Annotated[str, StringConstraints(max_length=50, pattern=EVENT_NAME_PATTERN)]
    payload: JsonObject


class EventCreated(Response):
    event_id: int
    timestamp: datetime


class EventOut(Response):
    id: int
    event: str
    timestamp: datetime
    payload: dict[str, Any]


class EventsQuery(Query):
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    event: (
        Annotated[str, StringConstraints(max_length=50, pattern=EVENT_FILTER_PATTERN)] | None
    ) = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


class EventPage(Response):
    events: list[EventOut]
    total: int = Field(description="The number of events in this page.")
    next_cursor: str | None


# --- leads ---

Decision = Literal["GO", "NO-GO"]


class LeadCreate(RequestBody):
    platform: Bounded(50)  # type: ignore[valid-type]
    title: Bounded(500)  # type: ignore[valid-type]
    budget: Bounded(100)  # type: ignore[valid-type]
    decision: Decision
    reason: NonBlank
    urgency: int | None = Field(default=None, ge=1, le=10)
    pain: int | None = Field(default=None, ge=1, le=10)
    link: Bounded(2000) | None = None  # type: ignore[valid-type]


class LeadPatch(RequestBody):
    sent: bool


class LeadCreated(Response):
    lead_id: int


class LeadOut(Response):
    id: int
    platform: str
    title: str
    budget: str
    decision: Decision
    reason: str
    urgency: int | None
    pain: int | None
    link: str | None
    sent: bool
    created_at: datetime
    updated_at: datetime


class LeadsQuery(Query):
    decision: Decision | None = None
    platform: Annotated[str, StringConstraints(max_length=50)] | None = None
    sent: bool | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class LeadPage(Response):
    leads: list[LeadOut]
    next_cursor: str | None


# --- citizen sessions ---

SessionStatus = Literal["queued", "running", "completed", "failed"]


class SessionOut(Response):
    id: str
    citizen: str
    trigger: str
    status: SessionStatus
    exit_code: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    output_tail: str | None
    error: str | None


class SessionsQuery(Query):
    citizen: Annotated[str, StringConstraints(max_length=50)] | None = None
    status: SessionStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class SessionPage(Response):
    sessions: list[SessionOut]
    next_cursor: str | None
