"""What the command line accepts: sizes, numbers, encodings and paths checked at the door.

Each checker either returns a clean value or raises `SwarmError` (exit 2) with one line, so
no command meets a 1 GB body, a number SQLite cannot hold, a file where a folder belongs or
bytes that are not text. The argparse `type=` helpers raise `ArgumentTypeError` instead,
which the parser turns into its one usage line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

from swarm.errors import EXIT_USAGE, SwarmError

MAX_BODY_BYTES = 1_000_000  # a task body: a description, not a data set
MAX_TITLE_CHARS = 500
MAX_HOOK_BYTES = 16_000_000  # a hook payload (a tool's output can be large)
MAX_SQL_INT = 2**63 - 1


def read_text_bounded(source: BinaryIO, what: str, limit: int = MAX_BODY_BYTES) -> str:
    """At most `limit` bytes of UTF-8 text without NUL bytes, else one line saying why."""
    raw = source.read(limit + 1)
    if len(raw) > limit:
        raise SwarmError(f"{what} is larger than {limit // 1_000_000} MB", EXIT_USAGE)
    if b"\0" in raw:
        raise SwarmError(f"{what} holds binary data (a NUL byte): expected text", EXIT_USAGE)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SwarmError(
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            EXIT_USAGE,
        ) from None


def read_body(path: Path) -> str:
    """A task body from a file, or from stdin for `-`."""
    if str(path) == "-":
        return read_text_bounded(sys.stdin.buffer, "the body on stdin")
    if not path.exists():
        raise SwarmError(f"{path}: cannot read the task body (no such file)", EXIT_USAGE)
    if not path.is_file():
        raise SwarmError(f"{path}: the task body must be a regular file", EXIT_USAGE)
    try:
        with path.open("rb") as handle:
            return read_text_bounded(handle, f"{path}")
    except OSError as exc:
        raise SwarmError(
            f"{path}: cannot read the task body ({exc.strerror or exc})", EXIT_USAGE
        ) from None


def check_title(title: str) -> str:
    if not title.strip():
        raise SwarmError("a task needs a title (got an empty one)", EXIT_USAGE)
    if len(title) > MAX_TITLE_CHARS:
        raise SwarmError(
            f"a task title has at most {MAX_TITLE_CHARS} characters, got {len(title)} "
            "(put the details in --body)",
            EXIT_USAGE,
        )
    return title


def count(text: str) -> int:
    """argparse type: a whole number from 0 (for `-n`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0 or value > MAX_SQL_INT:
        raise argparse.ArgumentTypeError(f"expected a number from 0, got {text}")
    return value


def folder(text: str) -> Path:
    """argparse type: an existing folder (for `--repo`)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a folder")
    return path


def record_number(text: str, what: str = "merge request") -> int:
    """`12` or `#12` as a row number SQLite can hold, else one line."""
    value = int(text)
    if value < 1 or value > MAX_SQL_INT:
        raise SwarmError(f"no {what} #{text}", EXIT_USAGE)
    return value


def read_hook_payload(source: BinaryIO, limit: int = MAX_HOOK_BYTES) -> dict[str, Any]:
    """A hook's JSON payload; anything unreadable (too big, too deep, not JSON) is `{}`.

    A hook must never fail the runtime that calls it, so a bad payload is ignored, not fatal.
    """
    raw = source.read(limit + 1)
    if len(raw) > limit or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
