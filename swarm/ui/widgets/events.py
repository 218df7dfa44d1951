"""The events section: the newest lines of the history, newest first, one line each."""

from __future__ import annotations

from rich.text import Text

from swarm.ui import format as fmt
from swarm.ui.data import EventRow, Snapshot
from swarm.ui.widgets.section import TextSection

# The first word of an event's kind says who acted; failures stand out whatever the kind.
KIND_STYLES = {
    "task": "cyan",
    "merge": "magenta",
    "agent": "default",
    "controller": "yellow",
    "witness": "yellow",
    "refinery": "magenta",
    "swarm": "bold",
}
ALARMS = ("failed", "dead", "bounced", "rejected", "escalat", "error", "stalled", "waiting")


def event_style(event: EventRow) -> str:
    text = f"{event.kind} {event.message}".lower()
    if any(word in text for word in ALARMS):
        return "red" if "waiting" not in text else "yellow"
    return KIND_STYLES.get(event.kind.split(".", 1)[0], "default")


def event_line(event: EventRow, width: int, now: float) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{fmt.age(event.ts, now):>3} ", style="dim")
    line.append(fmt.clip(event.message, max(1, width - 4)), style=event_style(event))
    return line


class EventsView(TextSection):
    """As many recent events as fit the section's height, newest first."""

    def draw(self, snapshot: Snapshot, width: int) -> Text:
        height = max(1, self.size.height or 10)
        newest = list(reversed(snapshot.events))[:height]
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, event in enumerate(newest):
            if index:
                text.append("\n")
            text.append_text(event_line(event, width, snapshot.now))
        if not newest:
            text.append("no events yet", style="dim")
        return text
