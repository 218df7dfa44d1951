"""Budgets that hold: a task over its dollars is stopped, a day over its dollars pauses dispatch.

A layout sets `budget: {task_usd: 5, day_usd: 200}`. Both checks are pure functions of
what was spent (the store's usage table) and a clock the caller passes in:

- a held task over `task_usd` first gets its agent told to wrap up (one nudge), and is
  marked failed with the reason once that agent's turn ended or `wrap_up_grace` passed;
  a task already in the merge queue (`done`) is never stopped: nothing stops mid-merge;
- the swarm over `day_usd` today stops handing out tasks until the next local midnight
  (`swarm.usage.pauses.dispatch_allowed` reads the stored pause); one event, one
  notification; the next day's dispatch goes on by itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

BUDGET_SCOPE = "budget"
WRAP_UP_TEXT = (
    "Budget: task {task} has spent {spent} of its {limit} limit. Wrap up now: commit what "
    "works, write what is left in your final message, and stop. The swarm will mark the task "
    "failed with this reason."
)


@dataclass(frozen=True)
class Budget:
    """The layout's `budget:` key (US dollars); a missing limit is no limit."""

    task_usd: float | None = field(
        default=None, metadata={"gt": 0, "help": "dollars one task may spend"}
    )
    day_usd: float | None = field(
        default=None, metadata={"gt": 0, "help": "dollars the swarm may spend per day"}
    )
    wrap_up_grace: float = field(
        default=180.0,
        metadata={"min": 0, "max": 86400, "help": "seconds an agent gets to wrap up"},
    )


@dataclass(frozen=True)
class HeldTask:
    """A task an agent holds, as the budget sees it."""

    task: str
    agent: str
    agent_state: str
    state_since: float
    cost_usd: float


@dataclass(frozen=True)
class WrapUp:
    task: str
    agent: str
    text: str


@dataclass(frozen=True)
class StopTask:
    task: str
    agent: str
    reason: str


def day_of(ts: float) -> str:
    """The local calendar day a moment belongs to: usage and the daily budget use it."""
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def next_day(ts: float) -> float:
    """The next local midnight after `ts`."""
    moment = time.localtime(ts)
    return time.mktime((moment.tm_year, moment.tm_mon, moment.tm_mday + 1, 0, 0, 0, 0, 0, -1))


def task_checks(
    held: list[HeldTask], warned: Mapping[str, float], budget: Budget, now: float
) -> list[WrapUp | StopTask]:
    """Per held task over its limit: wrap up once, then stop (turn ended or grace passed)."""
    if budget.task_usd is None:
        return []
    actions: list[WrapUp | StopTask] = []
    for item in held:
        if item.cost_usd < budget.task_usd:
            continue
        limit = f"${budget.task_usd:,.2f}"
        spent = f"${item.cost_usd:,.2f}"
        told = warned.get(item.task)
        if told is None:
            text = WRAP_UP_TEXT.format(task=item.task, spent=spent, limit=limit)
            actions.append(WrapUp(item.task, item.agent, text))
            continue
        turn_ended = item.agent_state == "idle" and item.state_since > told
        gone = item.agent_state in ("dead", "stopped")
        if turn_ended or gone or now - told >= budget.wrap_up_grace:
            reason = f"budget: spent {spent}, over the task limit of {limit}"
            actions.append(StopTask(item.task, item.agent, reason))
    return actions


def day_check(spent_today: float, budget: Budget, paused: bool) -> str | None:
    """The reason to pause dispatch for the rest of the day (None: go on, or already paused)."""
    if budget.day_usd is None or paused or spent_today < budget.day_usd:
        return None
    return f"daily budget: spent ${spent_today:,.2f} of ${budget.day_usd:,.2f} today"
