"""The witness's usage meter, wired to its effects: nudges typed like any recovery nudge
(in worker threads, recorded as `witness.nudge`), notifications through its notifier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from swarm.plan import SwarmPlan
from swarm.store import Store
from swarm.usage.meter import UsageMeter, for_plan
from swarm.witness.effects import Effects
from swarm.witness.recovery import Nudge


def usage_meter(
    store: Store,
    plan: SwarmPlan | None,
    state_dir: Path,
    effects: Effects,
    log: Callable[[str], None],
) -> UsageMeter:
    def nudge(agent: str, text: str, reason: str) -> None:
        effects.execute(store, Nudge(agent, text, reason))

    def notify(title: str, message: str) -> None:
        effects.notifier.tell(title, message)

    return for_plan(store, plan, state_dir, nudge=nudge, notify=notify, log=log)
