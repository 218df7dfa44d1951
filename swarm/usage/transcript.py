"""Reading a runtime's JSONL transcript incrementally: only the bytes appended since last time.

Claude Code appends one JSON object per line to the file named `transcript_path` in its
hook payloads; its assistant entries carry the Messages API's `usage`. A tick of the
witness must cost microseconds for thirty agents, so a read is one `stat` per file and,
only when it grew, one `read` of the new bytes from the remembered offset:

- a partial last line (the runtime is mid-write) is left for the next read;
- a file that was replaced (another inode) or truncated (shorter than the offset) is read
  again from its start;
- one API response is written as several entries (one per content block) that repeat the
  same message id and usage, sometimes growing (`output_tokens` known only at the end): per
  message id only what exceeds what was already counted is added, so nothing is counted twice.

API errors the runtime wrote into the conversation (a 429, "usage limit reached") are
returned as text for `swarm.usage.limits` to judge.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swarm.store.usage import Cursor
from swarm.usage.tokens import Usage

MAX_READ = 1 << 20  # bytes read per file per call at most; the rest waits for the next call
RECENT = 16  # message ids remembered per transcript (entries of one message are adjacent)


@dataclass(frozen=True)
class Spent:
    """Tokens one model spent, newly seen in this read."""

    model: str
    usage: Usage
    at: float | None  # the entry's timestamp (epoch seconds), if it had one


@dataclass
class ReadResult:
    cursor: Cursor
    spent: list[Spent] = field(default_factory=list)
    errors: list[tuple[str, float | None]] = field(default_factory=list)  # API error texts


def read_new(cursor: Cursor, max_read: int = MAX_READ) -> ReadResult | None:
    """What was appended to `cursor.transcript` since `cursor`; None if nothing new (or no
    file). The returned cursor is where the next read starts."""
    try:
        st = os.stat(cursor.transcript)
    except OSError:
        return None
    offset, recent = cursor.offset, dict(cursor.recent)
    if st.st_ino != cursor.inode or st.st_size < offset:
        offset, recent = 0, {}  # replaced or truncated: a new file to us
    if st.st_size == offset:
        if offset != cursor.offset or st.st_ino != cursor.inode:
            return ReadResult(Cursor(cursor.agent, cursor.transcript, st.st_ino, offset))
        return None
    try:
        with open(cursor.transcript, "rb") as handle:
            handle.seek(offset)
            data = handle.read(min(st.st_size - offset, max_read))
    except OSError:
        return None
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) >= max_read:  # one line longer than a whole read: skip it
            end = len(data) - 1
        else:
            return None  # only a partial line so far
    result = ReadResult(cursor)
    for line in data[: end + 1].splitlines():
        _take(line, recent, result)
    kept = tuple(list(recent.items())[-RECENT:])
    result.cursor = Cursor(cursor.agent, cursor.transcript, st.st_ino, offset + end + 1, kept)
    return result


def _take(line: bytes, recent: dict[str, Usage], result: ReadResult) -> None:
    if b'"usage"' not in line and b"rror" not in line:
        return  # the common case (tool results, user turns) without parsing JSON
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return
    if not isinstance(entry, dict):
        return
    at = _timestamp(entry.get("timestamp"))
    error = error_text(entry)
    if error is not None:
        result.errors.append((error, at))
    message = entry.get("message")
    if entry.get("type") != "assistant" or not isinstance(message, dict):
        return
    usage = message.get("usage")
    model = str(message.get("model") or "")
    if not isinstance(usage, dict) or model == "<synthetic>":
        return
    seen = _tokens(usage)
    key = str(message.get("id") or entry.get("requestId") or entry.get("uuid") or "")
    before = recent.pop(key, Usage()) if key else Usage()
    new = Usage(
        max(0, seen.input_tokens - before.input_tokens),
        max(0, seen.output_tokens - before.output_tokens),
        max(0, seen.cache_write_tokens - before.cache_write_tokens),
        max(0, seen.cache_read_tokens - before.cache_read_tokens),
    )
    if key:
        recent[key] = Usage(
            max(seen.input_tokens, before.input_tokens),
            max(seen.output_tokens, before.output_tokens),
            max(seen.cache_write_tokens, before.cache_write_tokens),
            max(seen.cache_read_tokens, before.cache_read_tokens),
        )
    if new.tokens:
        result.spent.append(Spent(model, new, at))


def _tokens(usage: dict[str, Any]) -> Usage:
    def number(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    return Usage(
        number("input_tokens"),
        number("output_tokens"),
        number("cache_creation_input_tokens"),
        number("cache_read_input_tokens"),
    )


def error_text(entry: dict[str, Any]) -> str | None:
    """The text of an API error the runtime recorded (None for an ordinary entry)."""
    if entry.get("type") == "system" and entry.get("subtype") == "api_error":
        return json.dumps(entry.get("error"), default=str) + _retry_note(entry)
    if entry.get("type") != "assistant":
        return None
    if not entry.get("isApiErrorMessage") and not entry.get("error"):
        return None
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    texts = [
        str(block.get("text", ""))
        for block in (content if isinstance(content, list) else [])
        if isinstance(block, dict) and block.get("type") == "text"
    ]
    if isinstance(content, str):
        texts.append(content)
    return " ".join(texts) or str(entry.get("error"))


def _retry_note(entry: dict[str, Any]) -> str:
    retry = entry.get("retryInMs")
    return f" retry-after-ms: {retry}" if isinstance(retry, int | float) else ""


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def last_assistant_text(path: str, before: float | None = None, tail: int = 2 << 20) -> str:
    """The last thing the agent said (its final message), from the end of its transcript;
    with `before`, the last said before that moment. Only the file's last `tail` bytes are
    read: this runs once per finished task."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - tail))
            data = handle.read()
    except OSError:
        return ""
    for line in reversed(data.splitlines()):
        try:
            entry: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            continue
        if entry.get("isApiErrorMessage"):
            continue
        at = _timestamp(entry.get("timestamp"))
        if before is not None and at is not None and at > before:
            continue
        message = entry.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        texts = [
            str(block.get("text", "")).strip()
            for block in (content if isinstance(content, list) else [])
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        text = "\n\n".join(t for t in texts if t)
        if text:
            return text
    return ""
