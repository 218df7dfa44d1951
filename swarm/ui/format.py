"""How the sidebar writes states, ages and sizes: short, so a 30-column pane stays readable.

Plain functions with no Textual import, so the formatting is unit-tested on its own and the
snapshot tests stay stable when widgets change.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from swarm.textsafe import one_line


@dataclass(frozen=True, slots=True)
class StateLook:
    """One state's symbol (one cell wide), its short name and its colour."""

    symbol: str
    short: str
    style: str


STATE_LOOKS: dict[str, StateLook] = {
    "starting": StateLook("◌", "start", "cyan"),
    "idle": StateLook("○", "idle", "green"),
    "working": StateLook("●", "work", "bold green"),
    "waiting": StateLook("?", "wait", "bold yellow"),
    "stalled": StateLook("◔", "stall", "bold dark_orange"),
    "limited": StateLook("⏸", "limit", "bold magenta"),
    "dead": StateLook("✗", "dead", "bold red"),
    "done": StateLook("✓", "done", "blue"),
    "stopped": StateLook("■", "stop", "dim"),
    "escalated": StateLook("!", "escal", "bold magenta"),
}
UNKNOWN_LOOK = StateLook("·", "?", "dim")

MERGE_LOOKS: dict[str, StateLook] = {
    "queued": StateLook("◌", "queued", "cyan"),
    "testing": StateLook("◐", "testing", "bold yellow"),
    "merged": StateLook("✓", "merged", "green"),
    "bounced": StateLook("↩", "bounced", "bold red"),
    "rejected": StateLook("✗", "rejected", "red"),
}

PRIORITY_STYLES = ("bold red", "yellow", "default", "dim", "dim")


def state_look(state: str) -> StateLook:
    return STATE_LOOKS.get(state, UNKNOWN_LOOK)


def merge_look(status: str) -> StateLook:
    return MERGE_LOOKS.get(status, UNKNOWN_LOOK)


def age(since: float | None, now: float) -> str:
    """How long ago, compactly: 4s, 3m, 2h, 1d ('-' when unknown)."""
    if since is None or since <= 0:
        return "-"
    seconds = max(0.0, now - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def size(rss_bytes: int | None) -> str:
    """Resident memory the way `top` shows it: 812K, 340M, 1.2G."""
    if rss_bytes is None:
        return "-"
    value = float(rss_bytes)
    for unit in ("B", "K", "M"):
        if value < 1024:
            return f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.1f}G" if value < 10 else f"{value:.0f}G"


def cpu(percent: float | None) -> str:
    return "-" if percent is None else f"{percent:.0f}%"


def clip(text: str, width: int) -> str:
    """Cut to `width` cells, marking the cut with an ellipsis; one line only."""
    line = one_line(text.replace("\n", " ").replace("\r", " "))  # no escape reaches the terminal
    if width <= 0:
        return ""
    if len(line) <= width:
        return line
    return line[: max(0, width - 1)] + "…"


def cell(text: str, width: int, style: str = "") -> Text:
    """A fixed-width table cell: clipped, padded, styled."""
    return Text(clip(text, width).ljust(width), style=style, no_wrap=True, overflow="crop")
