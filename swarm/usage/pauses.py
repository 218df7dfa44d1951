"""Whether the controller may hand out a task now, and the entry points that report limits.

The witness and the hooks write pauses into the store (a daily budget spent, an account's
usage limit); the controller only asks `dispatch_allowed` before it claims a task for an
agent. One short read of a table of a few rows, so asking per idle agent per tick is free.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from swarm.budget import BUDGET_SCOPE
from swarm.store import Store
from swarm.store.models import Agent
from swarm.usage.limits import (
    LimitSignal,
    StartPause,
    clock_text,
    default_wait,
    from_report,
    on_limit,
    scope_of,
)


def dispatch_allowed(store: Store, now: float, agent: Agent | None = None) -> str | None:
    """None when a task may be handed out (to `agent`); else why not, in one line.

    The daily budget holds every agent; a usage limit holds the agents of its account.
    """
    for pause in store.pauses().values():
        if not pause.active(now):
            continue
        until = f" until {clock_text(pause.until, now)}" if pause.until else ""
        if pause.scope == BUDGET_SCOPE:
            return f"{pause.reason}{until}"
        if agent is not None and pause.scope == scope_of(agent.runtime):
            return f"{pause.reason}{until}"
    return None


def apply_limit(
    store: Store, agent: Agent, signal: LimitSignal, now: float, wait: float | None = None
) -> None:
    """Mark the agent `limited` and start or join its account's pause, atomically."""
    wait = default_wait() if wait is None else wait
    with store.transaction():
        pause = store.pauses().get(scope_of(agent.runtime))
        decision = on_limit(pause, agent.name, agent.runtime, signal, now, wait)
        if isinstance(decision, StartPause):
            store.set_pause(
                decision.scope,
                signal.reason,
                decision.until,
                decision.agents,
                kind="usage.limited",
                message=decision.message,
            )
        else:
            store.update_pause(decision.scope, decision.until, decision.agents)
        detail = f"{signal.reason} until {clock_text(decision.until, now)}"
        if not signal.reset_at:
            detail += " (no reset time given)"
        store.set_agent_state(agent.name, "limited", detail)


def limit_agent(store: Store, agent_name: str, signal: LimitSignal, now: float) -> bool:
    """Whatever told of the limit: the agent is limited and its account paused."""
    agent = store.find_agent(agent_name)
    if agent is None:
        return False
    apply_limit(store, agent, signal, now)
    return True


def on_report(store: Store, agent_name: str, event: str, payload: Mapping[str, Any]) -> None:
    """Called once per report: a StopFailure caused by a limit marks the agent limited."""
    now = time.time()
    signal = from_report(event, payload, now)
    if signal is not None:
        limit_agent(store, agent_name, signal, now)
