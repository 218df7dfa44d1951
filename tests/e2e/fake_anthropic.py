"""A scripted Anthropic Messages API on 127.0.0.1, for driving the real Claude Code CLI.

Claude Code streams `POST /v1/messages` with server-sent events. This server answers each
request from a per-test script: a list of `Rule`s, each keyed by a piece of text the
conversation's latest message must contain (the prompt, a tool result) and replying with
text and/or `tool_use` blocks. So a test decides exactly which commands the "model" runs,
and the real client does everything else: permission prompts, hooks, the Bash tool.

Requests that are not the agent's main turn (a session title, a summary, a quota probe)
carry no tools; they, and any turn no rule matches, get a short text answer.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Tool:
    """Any tool call: `Tool("Write", {"file_path": …, "content": …})`."""

    name: str
    input: dict[str, Any]


def Bash(command: str, description: str = "") -> Tool:  # a function that reads like a block
    return Tool("Bash", {"command": command, "description": description or command[:40]})


Block = Text | Tool


@dataclass
class Rule:
    """Reply with `blocks` when the latest message of a main turn contains `when`.

    `times` bounds how often the rule fires (None: every time). A rule with tool calls ends
    its turn with `tool_use`, so the client runs them and comes back with their results.
    """

    when: str | re.Pattern[str]  # a substring, or a regular expression searched for
    blocks: tuple[Block, ...]
    times: int | None = 1
    delay: float = 0.0  # seconds the "model" thinks before answering
    fired: int = 0
    # The API `usage` the reply reports (input_tokens, output_tokens,
    # cache_creation_input_tokens, cache_read_input_tokens), in full in both message_start
    # and message_delta, so whichever the client keeps, it keeps these numbers.
    usage: dict[str, int] | None = None
    # An HTTP error instead of a reply (429: a rate limit), with these headers (e.g.
    # retry-after, anthropic-ratelimit-unified-reset) or none.
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def live(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, text: str) -> bool:
        if isinstance(self.when, str):
            return self.when in text
        return self.when.search(text) is not None

    @property
    def name(self) -> str:
        return self.when if isinstance(self.when, str) else self.when.pattern


def say(when: str | re.Pattern[str], text: str, times: int | None = 1) -> Rule:
    return Rule(when, (Text(text),), times)


def limited(
    when: str | re.Pattern[str],
    headers: dict[str, str] | None = None,
    times: int | None = 1,
    message: str = "This request would exceed your account's rate limit. Please try again later.",
) -> Rule:
    """Answer 429 (a rate limit) with `headers` (none by default) `times` times."""
    return Rule(when, (Text(message),), times, status=429, headers=dict(headers or {}))


def run(when: str | re.Pattern[str], command: str, times: int | None = 1, note: str = "") -> Rule:
    blocks: tuple[Block, ...] = (Text(note), Bash(command)) if note else (Bash(command),)
    return Rule(when, blocks, times)


@dataclass
class Exchange:
    """One request the server answered: what it was asked, and which rule answered."""

    main_turn: bool
    last_text: str
    rule: str | None
    usage: dict[str, int] | None = None  # what the reply reported (None: the defaults)
    status: int = 200


def content_text(content: Any) -> str:
    """All the text of a message's content: strings, text blocks and tool results."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(content_text(block.get("content", "")))
    return "\n".join(parts)


def latest_text(messages: list[Any]) -> str:
    """What the conversation added since the model last spoke: the user's message or tool
    results, and the system messages the client sends with them (SessionStart hook
    output arrives that way: "SessionStart:startup hook success: …")."""
    parts: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") == "assistant":
            break
        parts.append(content_text(message.get("content")))
    return "\n".join(reversed(parts))


@dataclass
class Script:
    rules: list[Rule] = field(default_factory=list)
    log: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *rules: Rule) -> None:
        with self.lock:
            self.rules.extend(rules)

    def answer(self, request: dict[str, Any]) -> tuple[tuple[Block, ...], float]:
        blocks, delay, _rule = self.answer_rule(request)
        return blocks, delay

    def answer_rule(self, request: dict[str, Any]) -> tuple[tuple[Block, ...], float, Rule | None]:
        """`answer`, and the rule that answered (for its usage numbers or error status)."""
        last = latest_text(request.get("messages") or [])
        main_turn = bool(request.get("tools"))
        with self.lock:
            rule = None
            if main_turn:
                rule = next((r for r in self.rules if r.live() and r.matches(last)), None)
            if rule is not None:
                rule.fired += 1
            self.log.append(
                Exchange(
                    main_turn,
                    last,
                    rule.name if rule else None,
                    usage=dict(rule.usage) if rule and rule.usage else None,
                    status=rule.status if rule else 200,
                )
            )
        if rule is not None:
            return rule.blocks, rule.delay, rule
        return (Text("OK." if main_turn else "Swarm task"),), 0.0, None

    def usage_sent(self, main_turns_only: bool = True) -> dict[str, int]:
        """The sums of the usage numbers rules reported (what the swarm should count)."""
        totals: dict[str, int] = {}
        with self.lock:
            for exchange in self.log:
                if exchange.usage is None or (main_turns_only and not exchange.main_turn):
                    continue
                for key, value in exchange.usage.items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    def main_turns(self) -> list[Exchange]:
        with self.lock:
            return [e for e in self.log if e.main_turn]


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def stream_events(
    blocks: tuple[Block, ...], model: str, usage: dict[str, int] | None = None
) -> Iterator[bytes]:
    """The SSE stream of one assistant message made of `blocks`."""
    tool_use = any(isinstance(b, Tool) for b in blocks)
    message: dict[str, Any] = {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(usage) if usage else {"input_tokens": 10, "output_tokens": 1},
    }
    yield _event("message_start", {"type": "message_start", "message": message})
    for index, block in enumerate(blocks):
        if isinstance(block, Text):
            start: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.text}
        else:
            start = {
                "type": "tool_use",
                "id": f"toolu_{next(_ids):06d}",
                "name": block.name,
                "input": {},
            }
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        yield _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        yield _event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = "tool_use" if tool_use else "end_turn"
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": dict(usage) if usage else {"output_tokens": 5},
        },
    )
    yield _event("message_stop", {"type": "message_stop"})


def whole_message(
    blocks: tuple[Block, ...], model: str, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    """The same reply, not streamed (for a request with `"stream": false`)."""
    content: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Text):
            content.append({"type": "text", "text": block.text})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(_ids):06d}",
                    "name": block.name,
                    "input": block.input,
                }
            )
    tool_use = any(isinstance(b, Tool) for b in blocks)
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool_use else "end_turn",
        "stop_sequence": None,
        "usage": dict(usage) if usage else {"input_tokens": 10, "output_tokens": 5},
    }


def _texts(blocks: tuple[Block, ...]) -> list[str]:
    return [b.text for b in blocks if isinstance(b, Text)]


class _Handler(BaseHTTPRequestHandler):
    server: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests print what matters
        pass

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, headers: dict[str, str], message: str) -> None:
        """An API error the way Anthropic sends one (429: `rate_limit_error`)."""
        kind = "rate_limit_error" if status == 429 else "api_error"
        body = {"type": "error", "error": {"type": kind, "message": message}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._send_json(200, {"data": [], "has_more": False})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            request = json.loads(raw)
        except json.JSONDecodeError:
            request = {}
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self._send_json(200, {"input_tokens": 10})
            return
        if not path.endswith("/v1/messages"):
            self._send_json(200, {})
            return
        if self.server.requests_dump is not None:
            self.server.requests_dump.append(request)
        model = str(request.get("model", "claude-sonnet-4-5"))
        blocks, delay, rule = self.server.script.answer_rule(request)
        time.sleep(delay)
        usage = rule.usage if rule is not None else None
        if rule is not None and rule.status != 200:
            self._send_error(rule.status, rule.headers, " ".join(_texts(blocks)))
            return
        if not request.get("stream"):
            self._send_json(200, whole_message(blocks, model, usage))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in stream_events(blocks, model, usage):
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


class FakeAnthropic(ThreadingHTTPServer):
    """The server: `with FakeAnthropic(script) as api: ... api.url ...`."""

    daemon_threads = True

    def __init__(self, script: Script | None = None, *, keep_requests: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script or Script()
        self.requests_dump: list[dict[str, Any]] | None = [] if keep_requests else None
        self._thread = threading.Thread(
            target=self.serve_forever, name="fake-anthropic", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
