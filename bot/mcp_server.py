"""`scopelock mcp`: the citizens' tools, an MCP server on stdio (CONTRACT §8).

Claude Code starts it per session from the `--mcp-config` file (citizens/mcp_config.py). Each
tool is a thin call to the REST API, so every write passes the same validation and the same
session-token scoping as any other client. The docstrings and argument descriptions are the
manual the citizen reads. A failed call answers the API's error message as the tool's error.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from bot.mcp_client_api import ApiCallError, call

TOOL_NAMES = (
    "get_thread",
    "create_draft",
    "log_event",
    "track_lead",
    "find_leads",
    "read_notes",
    "write_note",
)

server = MCPServer(
    "scopelock",
    instructions=(
        "ScopeLock's tools: read the conversation you answer (get_thread), post drafts for the "
        "operator to approve (create_draft), record leads and events, share notes. Nothing you "
        "post reaches a client until the operator approves it in Telegram."
    ),
)


async def _call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        return await call(method, path, **kwargs)
    except ApiCallError as error:
        raise ToolError(str(error)) from None


def _given(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


@server.tool()
async def get_thread() -> dict[str, Any]:
    """The conversation this session answers: the client, the job, every message in and out
    (oldest first), every earlier draft with its outcome and the operator's feedback (edits as
    old -> new text, reasons for rejections, redraft instructions), and earlier sessions.
    Call it first: it is the client's whole history, and what the operator liked or not."""
    thread_id = os.environ.get("SCOPELOCK_THREAD_ID", "")
    if not thread_id:
        raise ToolError("this session has no thread")
    return await _call("GET", f"/api/thread/{thread_id}")


@server.tool()
async def create_draft(
    client: Annotated[str, Field(description="The client's name, as in the thread (1-200).")],
    job_title: Annotated[str, Field(description="The job's title (1-500 characters).")],
    message: Annotated[
        str, Field(description="The client's message you answer, verbatim (1-50,000).")
    ],
    draft_text: Annotated[
        str,
        Field(description="Your reply to the client, plain text, ready to send (1-20,000)."),
    ],
    confidence: Annotated[
        int, Field(description="0-100: how sure you are that the operator sends it as is.")
    ],
    note: Annotated[
        str | None,
        Field(
            description="Optional word to the operator (not sent to the client, max 1,000): "
            "what you assumed, what to check."
        ),
    ] = None,
    lead_id: Annotated[
        int | None, Field(description="The lead this proposal answers, when there is one.")
    ] = None,
) -> dict[str, Any]:
    """Post a draft reply for the operator to approve, edit or reject in Telegram. Nothing
    reaches the client until then. Answers the draft's id and status."""
    body = _given(
        client=client,
        job_title=job_title,
        message=message,
        draft_text=draft_text,
        confidence=confidence,
        note=note,
        lead_id=lead_id,
        thread_id=os.environ.get("SCOPELOCK_THREAD_ID") or None,
    )
    return await _call("POST", "/api/draft/create", body=body)


@server.tool()
async def log_event(
    event: Annotated[
        str,
        Field(
            description="A versioned name such as `emma.scan.finished@1.0` (lower case, dots, "
            "`@major.minor`, at most 50 characters). The namespaces draft., lead., citizen., "
            "thread., upwork., delivery., schedule., budget. and system. are the service's own "
            "and refused."
        ),
    ],
    payload: Annotated[
        dict[str, Any], Field(description="A JSON object with what happened (at most 64 KiB).")
    ],
) -> dict[str, Any]:
    """Record a milestone or fact in ScopeLock's append-only event log. Answers its id."""
    return await _call("POST", "/api/event/log", body={"event": event, "payload": payload})


@server.tool()
async def track_lead(
    platform: Annotated[str, Field(description="Where the job is posted, e.g. `upwork`.")],
    title: Annotated[str, Field(description="The job's title (1-500 characters).")],
    budget: Annotated[str, Field(description="The budget as posted, e.g. `$500 fixed`.")],
    decision: Annotated[Literal["GO", "NO-GO"], Field(description="Your verdict.")],
    reason: Annotated[str, Field(description="Why, in one or two sentences.")],
    urgency: Annotated[
        int | None, Field(description="1-10: how soon the client needs it.")
    ] = None,
    pain: Annotated[
        int | None, Field(description="1-10: how much the problem hurts the client.")
    ] = None,
    link: Annotated[
        str | None, Field(description="The job's URL (how duplicates are found).")
    ] = None,
) -> dict[str, Any]:
    """Record an evaluated lead. Answers its id; a link already tracked answers the existing
    lead's id with `duplicate: true` and records nothing. Check `find_leads(link=...)` first."""
    body = _given(
        platform=platform,
        title=title,
        budget=budget,
        decision=decision,
        reason=reason,
        urgency=urgency,
        pain=pain,
        link=link,
    )
    return await _call("POST", "/api/leads", body=body)


@server.tool()
async def find_leads(
    decision: Annotated[
        Literal["GO", "NO-GO"] | None, Field(description="Only GO or only NO-GO leads.")
    ] = None,
    platform: Annotated[str | None, Field(description="Only this platform.")] = None,
    link: Annotated[str | None, Field(description="Only the lead with this job URL.")] = None,
    sent: Annotated[
        bool | None, Field(description="Only leads whose proposal was (not) sent.")
    ] = None,
    limit: Annotated[int, Field(description="How many, newest first (1-200).")] = 50,
) -> dict[str, Any]:
    """Leads already evaluated, newest first: use it before track_lead to avoid duplicates."""
    query = _given(decision=decision, platform=platform, link=link, limit=str(limit))
    if sent is not None:
        query["sent"] = "true" if sent else "false"
    return await _call("GET", "/api/leads", query=query)


@server.tool()
async def read_notes(
    limit: Annotated[int, Field(description="How many notes, newest first (1-200).")] = 20,
) -> dict[str, Any]:
    """The notes the citizens share (a dated line each, by its author), newest first."""
    return await _call("GET", "/api/notes", query={"limit": str(limit)})


@server.tool()
async def write_note(
    text: Annotated[
        str, Field(description="One line for the other citizens (1-2,000 characters).")
    ],
) -> dict[str, Any]:
    """Share a note with the other citizens (what you learned, what is in progress)."""
    return await _call("POST", "/api/notes", body={"text": text})


def main() -> int:
    """Serve on stdin/stdout until the client closes them."""
    server.run("stdio")
    return 0
