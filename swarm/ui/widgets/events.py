"""The events section: the newest lines of the history, newest first, one line each."""

from __future__ import annotations

import re

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
# Steps of a merge that another line already tells (queued, merged, bounced say it all; the
# merges section shows what is testing); `swarm log` keeps every one of them.
QUIET_KINDS = ("merge.testing", "merge.landed")
_QUIET_STATUS = re.compile(r"merge request #\d+: (?:\w+ -> (?:testing|queued)|still \w+)")


_ALL_PASSED = re.compile(r"gate on (\d+) candidate\(s\): \1 passed")


def worth_a_line(event: EventRow) -> bool:
    """Whether the sidebar gives the event a line (a passing gate is said by `merged`)."""
    if event.kind in QUIET_KINDS:
        return False
    if event.kind == "merge.status" and _QUIET_STATUS.match(event.message):
        return False
    return not (event.kind == "merge.gate" and _ALL_PASSED.match(event.message))


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
        newest = [e for e in reversed(snapshot.events) if worth_a_line(e)][:height]
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, event in enumerate(newest):
            if index:
                text.append("\n")
            text.append_text(event_line(event, width, snapshot.now))
        if not newest:
            text.append("no events yet", style="dim")
        return text
