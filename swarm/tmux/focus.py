"""Moving the person's view between agent panes (keys, sidebar and `swarm focus`)."""

from __future__ import annotations

import re
from collections.abc import Collection

from swarm.tmux.client import Command, PaneInfo

_NUMBERED = re.compile(r"^(?P<role>.+)-(?P<n>\d+)$")


def agent_sort_key(name: str) -> tuple[str, int]:
    """polecat-2 before polecat-10."""
    match = _NUMBERED.match(name)
    if match:
        return match["role"], int(match["n"])
    return name, 0


def neighbour(
    panes: list[PaneInfo], current: str | None, direction: str, roles: Collection[str]
) -> PaneInfo | None:
    """The next (or previous) agent of `roles` after the pane `current`, wrapping around."""
    ring = sorted((p for p in panes if p.role in roles), key=lambda p: agent_sort_key(p.agent))
    if not ring:
        return None
    ids = [p.pane_id for p in ring]
    if current not in ids:
        return ring[0] if direction == "next" else ring[-1]
    step = 1 if direction == "next" else -1
    return ring[(ids.index(current) + step) % len(ring)]


def focus_commands(pane_id: str, zoom: bool = False) -> list[Command]:
    commands: list[Command] = [("select-window", "-t", pane_id), ("select-pane", "-t", pane_id)]
    if zoom:
        commands.append(("resize-pane", "-Z", "-t", pane_id))
    return commands
