"""Small helpers the commands share for printing."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from swarm.textsafe import one_line


def progress(message: str) -> None:
    """Progress goes to stderr so `--json` output on stdout stays parseable."""
    print(f"  {message}", file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    rows = [[one_line(cell) for cell in row] for row in rows]  # titles may hold escape codes
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def ago(timestamp: float | None, now: float | None = None) -> str:
    """How long ago, compactly: 4s, 3m, 2h, 1d."""
    if not timestamp:
        return "-"
    seconds = max(0.0, (now or time.time()) - timestamp)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
