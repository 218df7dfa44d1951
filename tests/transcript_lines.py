"""Synthetic Claude Code transcript lines with usage numbers the tests know, and the
stand-ins the usage tests share: a clock they move, and a record of nudges and notices."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

MODEL = "claude-sonnet-4-5-20250929"


def assistant(
    message_id: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_write: int = 0,
    cache_read: int = 0,
    text: str = "working on it",
    model: str = MODEL,
    at: float | None = None,
) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at if at is not None else 0))
    return {
        "type": "assistant",
        "uuid": f"u-{message_id}-{text[:8]}",
        "timestamp": stamp if at is not None else None,
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
            },
        },
    }


def user(text: str) -> dict[str, Any]:
    return {"type": "user", "message": {"role": "user", "content": text}}


def api_error(text: str, at: float | None = None) -> dict[str, Any]:
    entry = assistant("err", text=text, model="<synthetic>", at=at)
    entry["isApiErrorMessage"] = True
    return entry


def append(path: Path, *entries: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")


class Clock:
    """A clock the test sets by hand (`clock.now = …`)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Told:
    """Stands in for the witness's nudges and notifications."""

    def __init__(self) -> None:
        self.nudges: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def nudge(self, agent: str, text: str, reason: str) -> None:
        self.nudges.append((agent, text))

    def notify(self, title: str, message: str) -> None:
        self.notes.append(message)
