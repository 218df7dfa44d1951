"""The "needs you" section, first in the sidebar: escalations waiting for the person.

An escalation (a task the refinery gave up, an agent the witness could not save) is a
decision for the person (`swarm inbox`), not work for the swarm. Agents waiting at a prompt
are already listed first among the agents. Empty, the section and its title take no room.
"""

from __future__ import annotations

from rich.text import Text

from swarm.ui import format as fmt
from swarm.ui.data import Snapshot
from swarm.ui.widgets.section import TextSection


def needs_title(count: int) -> str:
    return f"needs you · {count} (swarm inbox)" if count else "needs you"


class NeedsView(TextSection):
    """One line per item, newest escalation last; cut with an ellipsis, never wrapped."""

    def draw(self, snapshot: Snapshot, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        lines: list[tuple[str, str, str]] = []
        for item in snapshot.escalations:
            what = item.text.removeprefix("refinery: ")
            lines.append(("!", f"#{item.key} {what}", "bold magenta"))
        for index, (mark, line, style) in enumerate(lines):
            if index:
                text.append("\n")
            text.append(f"{mark} ", style=style)
            text.append(fmt.clip(line, max(1, width - 2)))
        return text
