"""A scripted Anthropic Messages API on loopback, for driving the real Claude Code CLI.

The real CLI (its permission system, its MCP client, its transcripts) runs unchanged with
`ANTHROPIC_BASE_URL` pointing here; only the model is scripted. Each test says what the model
does at each step of the conversation and then asserts what the model was sent.

    fake = FakeAnthropic()
    await fake.start()                      # or the `fake_anthropic` fixture
    fake.script(
        tool_call("mcp__scopelock__get_thread", {}),
        tool_call("mcp__scopelock__create_draft", {...}, usage=Usage(input_tokens=1000)),
        reply("Draft posted."),
    )
    env = fake.cli_env(home)                # what the CLI needs to talk to this fake
    ...run `claude --print ...` with env...
    fake.tool_results()                     # what each tool answered, as the model saw it
    fake.saw("MARKER")                      # True when any request carried "MARKER"

Facts about the pinned CLI (2.1.332) it relies on, measured: the CLI calls
`POST /v1/messages?beta=true` and always streams (SSE: `message_start`, `content_block_start`
/ `content_block_delta` (`text_delta`, `input_json_delta`) / `content_block_stop`,
`message_delta` with the usage, `message_stop`). A conversation's turns are the requests that
carry `tools`; a side request (none carries tools: titles, summaries) would get a short text
answer without consuming the script. Measured in print mode: with
`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` (set by `cli_env`) the turns are the only requests;
without it the CLI also calls `GET /api/hello`, answered `{}` like any other path; no
`count_tokens` call was seen (it would be answered with a token estimate). MCP tools are
deferred: a realistic model first calls `ToolSearch` with `select:mcp__scopelock__NAME`, but
calling the tool directly works too. `CLAUDE.md` arrives as a `<system-reminder>` inside the
first user message.

The fake never answers with an HTTP error unless a step asks for it (`fail(status)`): the CLI
retries errors and dropped connections for minutes. When the script is used up, each further
turn answers the text `(script ended)` and ends the turn.

Cost: the CLI computes `total_cost_usd` from the usage reported here and its price list for the
model named in the request (`MODEL`, priced per million tokens at `PRICE_PER_MTOK`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

# The model the CLI is told to use, and its price per million tokens (input, output) in the
# CLI's own table: cost = input_tokens * 3e-6 + output_tokens * 15e-6.
MODEL = "claude-sonnet-4-5-20250929"
PRICE_PER_MTOK = (3.0, 15.0)
# A key of the right shape; the fake accepts any.
API_KEY = "sk-ant-fake-key-for-tests"
# The CLI appends its own notes (tokens left, budget) to each tool result after this.
REMINDER = "\n\n<system-reminder>"


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 10
    output_tokens: int = 5

    @property
    def cost_usd(self) -> float:
        """What the CLI charges for this usage of MODEL."""
        return (
            self.input_tokens * PRICE_PER_MTOK[0] + self.output_tokens * PRICE_PER_MTOK[1]
        ) / 1e6

    def as_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }


@dataclass(frozen=True)
class Step:
    """One answer of the model: text and/or tool calls, or an HTTP error."""

    text: str | None = None
    tools: tuple[tuple[str, dict[str, Any]], ...] = ()
    usage: Usage = field(default_factory=Usage)
    status: int | None = None  # an HTTP error instead of an answer

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tools else "end_turn"


def tool_call(name: str, arguments: dict[str, Any], *, usage: Usage | None = None) -> Step:
    """The model calls tool `name` with `arguments` (its answer comes in the next turn)."""
    return Step(tools=((name, arguments),), usage=usage or Usage())


def tool_search(*names: str, usage: Usage | None = None) -> Step:
    """The model loads deferred MCP tools, as the real model does before using them."""
    query = "select:" + ",".join(names)
    return Step(
        tools=(("ToolSearch", {"query": query, "max_results": len(names)}),),
        usage=usage or Usage(),
    )


def reply(text: str, *, usage: Usage | None = None) -> Step:
    """The model answers `text` and ends its turn (the session's result)."""
    return Step(text=text, usage=usage or Usage())


def fail(status: int) -> Step:
    """The API answers this HTTP status (the CLI will retry: use with care)."""
    return Step(status=status)


@dataclass
class Request:
    """One request the CLI made."""

    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def is_turn(self) -> bool:
        """A turn of the conversation (it offers tools), not a side request."""
        return self.path.endswith("/messages") and bool(self.body.get("tools"))

    @property
    def text(self) -> str:
        """Everything the model was sent (system prompt, messages, tools) as one string."""
        return json.dumps(self.body, ensure_ascii=False)


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._steps: list[Step] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._changed = asyncio.Event()

    # -- scripting and assertions -------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Queue the model's answers to the next conversation turns, in order."""
        self._steps.extend(steps)

    @property
    def steps_left(self) -> int:
        return len(self._steps)

    def turns(self) -> list[Request]:
        return [r for r in self.requests if r.is_turn]

    def saw(self, needle: str) -> bool:
        """True when any request (turns and side requests alike) carried `needle`."""
        return any(needle in r.text for r in self.requests)

    def tool_results(self) -> list[dict[str, Any]]:
        """Every tool_result block the model was sent, oldest first, without repeats (each
        turn resends the conversation so far)."""
        seen: dict[str, dict[str, Any]] = {}
        for request in self.turns():
            for message in request.body.get("messages", []):
                content = message.get("content")
                if not isinstance(content, list):
                    continue
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        seen.setdefault(block["tool_use_id"], block)
        return list(seen.values())

    def tool_result_texts(self) -> list[str]:
        """What each tool answered, without the `<system-reminder>` notes the CLI appends."""
        return [_block_text(block).split(REMINDER)[0] for block in self.tool_results()]

    def tool_answers(self) -> list[Any]:
        """Each tool's answer parsed as JSON (the ScopeLock tools answer JSON), else text."""
        answers: list[Any] = []
        for text in self.tool_result_texts():
            try:
                answers.append(json.loads(text))
            except ValueError:
                answers.append(text)
        return answers

    def cli_env(self, home: Path, **extra: str) -> dict[str, str]:
        """What the CLI needs to use this fake with nothing of the machine's own: a scratch
        HOME, no updater, no telemetry."""
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_MODEL": MODEL,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            **extra,
        }

    # -- the server ----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        recorded = Request(
            path=request.path,
            query=request.query_string,
            headers=dict(request.headers),
            body=body if isinstance(body, dict) else {"_json": body},
        )
        self.requests.append(recorded)
        if request.path.endswith("/messages/count_tokens"):
            return web.json_response({"input_tokens": len(raw) // 4})
        if not request.path.endswith("/messages") or request.method != "POST":
            return web.json_response({})
        if recorded.is_turn:
            step = self._steps.pop(0) if self._steps else reply("(script ended)")
        else:
            step = reply("Side request answered.")
        if step.status is not None:
            return web.json_response(
                {"type": "error", "error": {"type": "api_error", "message": "scripted"}},
                status=step.status,
            )
        model = str(body.get("model") or MODEL)
        if body.get("stream"):
            return await self._stream(request, step, model)
        return web.json_response(self._message(step, model))

    def _message(self, step: Step, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if step.text is not None:
            content.append({"type": "text", "text": step.text})
        for name, arguments in step.tools:
            content.append(
                {"type": "tool_use", "id": self._tool_id(), "name": name, "input": arguments}
            )
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": step.stop_reason,
            "stop_sequence": None,
            "usage": step.usage.as_json(),
        }

    async def _stream(self, request: web.Request, step: Step, model: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        message = self._message(step, model)
        start = dict(message, content=[], stop_reason=None)
        start["usage"] = dict(message["usage"], output_tokens=1)

        async def send(event: str, data: dict[str, Any]) -> None:
            payload = json.dumps(dict(data, type=event))
            await response.write(f"event: {event}\ndata: {payload}\n\n".encode())

        await send("message_start", {"message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                await send(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
                await send(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": block["text"]}},
                )
            else:
                opening = dict(block, input={})
                await send("content_block_start", {"index": index, "content_block": opening})
                partial = json.dumps(block["input"])
                await send(
                    "content_block_delta",
                    {
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": partial},
                    },
                )
            await send("content_block_stop", {"index": index})
        await send(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": step.usage.output_tokens},
            },
        )
        await send("message_stop", {})
        await response.write_eof()
        return response

    def _tool_id(self) -> str:
        return f"toolu_fake_{uuid.uuid4().hex[:20]}"


def _block_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""
