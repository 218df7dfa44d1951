"""The one call `swarm report` makes into usage: kept import-free, since every report of
every agent runs it and only a StopFailure needs the limit logic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm.store import Store

LIMIT_EVENTS = ("StopFailure",)


def on_report(store: Store, agent_name: str, event: str, payload: Mapping[str, Any]) -> None:
    """A turn ended by a rate or usage limit marks the agent limited (see usage.pauses)."""
    if event not in LIMIT_EVENTS:
        return
    from swarm.usage.pauses import on_report as apply

    apply(store, agent_name, event, payload)
