"""The running swarm's roles and what each does, for processes that only know agents' names.

The store records each agent's role by name; what the role does (`Capabilities`) lives in
the plan `swarm up` built. Every process asks here, so "which agents take tasks" or "who
receives escalations" is decided by capabilities, in one place, never by a role's name.
"""

from __future__ import annotations

from collections.abc import Iterable

from swarm import paths
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.plan import Capabilities, RoleSpec, SwarmPlan
from swarm.planfile import read_plan
from swarm.store.models import Agent

_cache: dict[tuple[str, int], SwarmPlan] = {}


def plan_of(instance: SwarmInstance) -> SwarmPlan:
    """The plan `swarm up` built (its plan file, never the layout), read again only when a
    new `swarm up` wrote it."""
    path = paths.plan_path(instance.state_dir)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    key = (str(path), stamp)
    plan = _cache.get(key)
    if plan is None:
        plan = read_plan(instance.state_dir)
        _cache.clear()
        _cache[key] = plan
    return plan


def roles(instance: SwarmInstance) -> dict[str, RoleSpec]:
    """Each role of the plan by name (empty when the plan cannot be read)."""
    try:
        plan = plan_of(instance)
    except SwarmError:
        return {}
    return {agent.role.name: agent.role for agent in plan.agents}


def capabilities(instance: SwarmInstance, role: str) -> Capabilities:
    spec = roles(instance).get(role)
    return spec.capabilities if spec is not None else Capabilities()


def that(instance: SwarmInstance, agents: Iterable[Agent], capability: str) -> list[Agent]:
    """The agents whose role has `capability` (e.g. "takes_tasks")."""
    known = roles(instance)
    return [
        agent
        for agent in agents
        if agent.role in known and getattr(known[agent.role].capabilities, capability)
    ]
