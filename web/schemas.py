"""Request and response models: they validate requests and generate `/api/openapi.json`."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from storage.repo.events import MAX_PAYLOAD_BYTES, payload_bytes

EVENT_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*@[0-9]+\.[0-9]+$"
EVENT_FILTER_PATTERN = r"^([a-z][a-z0-9_]*(\.[a-z0-9_]+)*@[0-9]+\.[0-9]+|[a-z0-9_.@]*\*)$"
CITIZEN_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


# JSON nested deeper than this is refused before it can exhaust the stack of any layer.
MAX_JSON_DEPTH = 32
# Exactly the characters `str.isspace()` counts, spelled out so that every regex engine
# reading the OpenAPI document agrees with the server on what "blank" means.
WHITESPACE = "\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = "^[^\x00]*$"
NOT_BLANK_PATTERN = f"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(value: str) -> bool:
    """False for what neither database can store: NUL characters and lone surrogates."""
    return _UNSTORABLE.search(value) is None


def _no_nul(value: str) -> str:
    if not is_storable(value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


def _storable_json(value: Any, depth: int = 0) -> Any:
    """Refuse what neither database can store: NUL, lone surrogates, non-finite numbers."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must not be nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 92.0 as an integer, so the API does too (92.5 still fails)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _iso_text(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as a Unix timestamp ("0.5")."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2025-11-02T14:23:00Z")
    return value


def _as_utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be within years 1 to 9999 in UTC") from None


# The patterns only document what `_no_nul` and `_not_blank` enforce, with friendlier messages.
Text = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
NonBlank = Annotated[
    str,
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
    Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_storable_json),
    Field(
        description="Any JSON object, nested at most "
        f"{MAX_JSON_DEPTH} levels deep, whose strings and keys hold no NUL character."
    ),
]
UtcDatetime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]


def Chars(max_length: int) -> StringConstraints:
    """`Annotated[NonBlank, Chars(n)]`: 1 to n characters, not blank."""
    return StringConstraints(min_length=1, max_length=max_length)


def Range(low: int, high: int) -> Any:
    """`Annotated[int, Range(low, high), WHOLE]`: the document shows minimum and maximum."""
    return Field(ge=low, le=high)


WHOLE = BeforeValidator(_whole_number)


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
    telegram: Literal["ok", "disabled", "degraded", "pairing"]
    telegram_dead_letters: int | None = None
    """Messages to the operator given up on in the last 24 h (absent while the database is
    down)."""
    workers: int | None = None
    """Processes running citizen sessions that renewed their heartbeat within SESSION_LEASE_S
    (absent while the database is down)."""
    sessions_queued: int | None = None
    """Citizen sessions waiting to run (absent while the database is down)."""


# --- drafts ---

DraftStatus = Literal["pending", "approved", "rejected", "superseded", "sent"]
FeedbackKind = Literal["edit", "reject_reason", "redraft"]
ThreadId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]


class DraftCreate(RequestBody):
    client: Annotated[NonBlank, Chars(200)]
    job_title: Annotated[NonBlank, Chars(500)]
    message: Annotated[Text, Field(min_length=1, max_length=50_000)]
    draft_text: Annotated[NonBlank, Chars(20_000)]
    confidence: Annotated[int, Range(0, 100), WHOLE]
    context: JsonObject | None = None
    citizen: Annotated[str, StringConstraints(pattern=CITIZEN_PATTERN)] = "rafael"
    note: Annotated[NonBlank, Chars(1000)] | None = None
    thread_id: ThreadId | None = None
    lead_id: Annotated[int, Range(1, 2**63 - 1), WHOLE] | None = None


class FeedbackOut(Response):
    kind: FeedbackKind
    text: str
    old_text: str | None = None
    at: datetime


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
    note: str | None
    thread_id: str | None
    lead_id: int | None
    session_id: str | None
    decided_at: datetime | None
    sent_at: datetime | None
    feedback: list[FeedbackOut] = Field(
        default_factory=list,
        description="The operator's edits (old -> new), reject reasons and redraft "
        "instructions, oldest first.",
    )


class DraftsQuery(Query):
    status: DraftStatus | None = None
    thread_id: Annotated[Text, StringConstraints(max_length=36)] | None = None
    client: Annotated[Text, StringConstraints(max_length=200)] | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class DraftPage(Response):
    drafts: list[DraftOut]
    next_cursor: str | None


# --- events ---

# The service's own namespaces (CONTRACT §6): POST /api/event/log refuses them.
RESERVED_EVENT_NAMESPACES = (
    "draft",
    "lead",
    "citizen",
    "thread",
    "upwork",
    "delivery",
    "schedule",
    "budget",
    "system",
)
_NOT_RESERVED = {"not": {"pattern": rf"^({'|'.join(RESERVED_EVENT_NAMESPACES)})\."}}


def _payload_fits(value: dict[str, Any]) -> dict[str, Any]:
    size = payload_bytes(value)
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"must be at most {MAX_PAYLOAD_BYTES} bytes as JSON (it is {size})")
    return value


class EventCreate(RequestBody):
    event: Annotated[
        str,
        StringConstraints(max_length=50, pattern=EVENT_NAME_PATTERN),
        Field(json_schema_extra=_NOT_RESERVED),  # checked by the route: reserved_event_name
    ]
    payload: Annotated[
        JsonObject,
        AfterValidator(_payload_fits),
        Field(description=f"A JSON object of at most {MAX_PAYLOAD_BYTES} bytes as compact JSON."),
    ]


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


def _lower(value: str) -> str:
    return value.lower()


class LeadCreate(RequestBody):
    platform: Annotated[NonBlank, Chars(50), AfterValidator(_lower)] = Field(
        description="Stored lower-case."
    )
    title: Annotated[NonBlank, Chars(500)]
    budget: Annotated[NonBlank, Chars(100)]
    decision: Decision
    reason: NonBlank
    urgency: Annotated[int, Range(1, 10), WHOLE] | None = None
    pain: Annotated[int, Range(1, 10), WHOLE] | None = None
    link: Annotated[NonBlank, Chars(2000)] | None = None


class LeadPatch(RequestBody):
    sent: bool


class LeadCreated(Response):
    lead_id: int


class LeadDuplicate(Response):
    """The lead's `link` is tracked already: its id, and nothing was written."""

    lead_id: int
    duplicate: Literal[True] = True


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
    platform: Annotated[Text, StringConstraints(max_length=50)] | None = Field(
        default=None, description="Matched case-insensitively."
    )
    sent: bool | None = None
    link: Annotated[Text, StringConstraints(max_length=2000)] | None = None
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
    thread_id: str | None
    claude_session_id: str | None
    cost_usd: float | None
    turns: int | None
    result: str | None
    waiting_reason: str | None


class SessionsQuery(Query):
    citizen: Annotated[Text, StringConstraints(max_length=50)] | None = None
    status: SessionStatus | None = None
    thread_id: Annotated[Text, StringConstraints(max_length=36)] | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class SessionPage(Response):
    sessions: list[SessionOut]
    next_cursor: str | None


# --- threads ---


class ThreadMessageOut(Response):
    direction: Literal["in", "out"]
    text: str
    at: datetime
    draft_id: str | None


class ThreadDraftOut(Response):
    id: str
    citizen: str
    status: DraftStatus
    draft_text: str
    created_at: datetime
    decided_at: datetime | None
    sent_at: datetime | None = None
    note: str | None = None
    feedback: list[FeedbackOut]


class ThreadSessionOut(Response):
    id: str
    citizen: str
    status: SessionStatus
    cost_usd: float | None


class ThreadSummary(Response):
    id: str
    platform: str
    client: str
    job_title: str | None
    job_link: str | None
    created_at: datetime
    last_message_at: datetime
    waiting_since: datetime | None = Field(
        description="The client's oldest message not yet answered, or null."
    )


class ThreadOut(ThreadSummary):
    messages: list[ThreadMessageOut] = Field(description="Oldest first.")
    drafts: list[ThreadDraftOut] = Field(description="Oldest first.")
    sessions: list[ThreadSessionOut] = Field(description="Oldest first.")


class ThreadsQuery(Query):
    client: Annotated[Text, StringConstraints(max_length=200)] | None = None
    waiting: bool | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class ThreadPage(Response):
    threads: list[ThreadSummary]
    next_cursor: str | None
