"""Usage as people read it: per agent, per task, and where the money went (`swarm budget`).

"unknown" is said, never guessed: an agent whose runtime reports no usage (no transcript,
e.g. the sim or a plain command) has `None`, not zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarm.store import Store
from swarm.store.models import Agent, Task
from swarm.usage.tokens import Usage


def agent_usage(store: Store, agents: Iterable[Agent]) -> dict[str, Usage | None]:
    """Each agent's usage so far; None where its runtime reports none."""
    spent = store.usage_by("agent")
    return {a.name: spent.get(a.name, Usage() if a.transcript_path else None) for a in agents}


def total_of(values: Iterable[Usage | None]) -> Usage | None:
    """The sum of the known values; None if none is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    result = Usage()
    for value in known:
        result = result + value
    return result


def task_usage(store: Store, task: Task) -> Usage | None:
    """What the task cost over all its attempts and agents; None if none of its agents'
    runtimes reports usage."""
    by_agent = store.usage_by("agent", task=task.id)
    if by_agent:
        return total_of(by_agent.values())
    names = {e.agent for e in store.events(task=task.id) if e.agent}
    if task.assignee:
        names.add(task.assignee)
    for name in names:
        agent = store.find_agent(name)
        if agent is not None and agent.transcript_path:
            return Usage()
    return None


def where_it_went(store: Store, now: float, day: str | None = None) -> dict[str, Any]:
    """`swarm budget --json`: totals per task, agent, role, day and model, and the pauses."""
    titles = {t.id: t.title for t in store.list_tasks()}

    def rows(by: str) -> list[dict[str, Any]]:
        grouped = store.usage_by(by, day=day)  # type: ignore[arg-type]
        ordered = sorted(grouped.items(), key=lambda item: -item[1].cost_usd)
        out = []
        for key, usage in ordered:
            row: dict[str, Any] = {by: key or None, **usage.to_json()}
            if by == "task":
                row["title"] = titles.get(key)
            out.append(row)
        return out

    pauses = [
        {
            "scope": p.scope,
            "reason": p.reason,
            "since": p.since,
            "until": p.until,
            "agents": list(p.agents),
            "active": p.active(now),
        }
        for p in store.pauses().values()
        if p.active(now)
    ]
    return {
        "day": day,
        "total": store.usage_total(day=day).to_json(),
        "by_task": rows("task"),
        "by_agent": rows("agent"),
        "by_role": rows("role"),
        "by_day": rows("day"),
        "by_model": rows("model"),
        "pauses": pauses,
    }
