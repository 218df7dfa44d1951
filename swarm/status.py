"""Who runs where: the store's view of each agent, confirmed by one look at tmux."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.models import Agent
from swarm.tmux.client import PaneInfo, Tmux
from swarm.tmux.focus import agent_sort_key


@dataclass(frozen=True)
class AgentStatus:
    name: str
    role: str
    runtime: str
    state: str
    state_since: float | None
    pane: str | None
    pid: int | None
    task: str | None
    restarts: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def role_rank(agents: Sequence[Agent]) -> dict[str, int]:
    """Roles in the order `swarm up` registered them (the layout's order): how lists of
    agents are grouped, without naming any role."""
    first: dict[str, tuple[float, str]] = {}
    for agent in agents:
        seen = first.get(agent.role)
        if seen is None or (agent.created_at, agent.name) < seen:
            first[agent.role] = (agent.created_at, agent.name)
    return {role: rank for rank, role in enumerate(sorted(first, key=lambda r: first[r]))}


def live_state(stored: str, pane: PaneInfo | None, running: bool) -> str:
    """tmux overrides the store where it knows better: a vanished or dead pane is dead."""
    if stored == "stopped" and not running:
        return "stopped"
    if pane is None or pane.dead:
        return "dead"
    return stored


def agent_statuses(instance: SwarmInstance, store: Store) -> list[AgentStatus]:
    panes = {p.agent: p for p in Tmux(instance.socket).list_panes(instance.session) if p.agent}
    running = bool(panes)
    rows = []
    agents = store.list_agents(team=True)  # a team's status shows every machine
    rank = role_rank(agents)
    for agent in agents:
        pane = panes.get(agent.name)
        local = store.scope is None or agent.name.startswith(f"{store.scope}/")
        rows.append(
            AgentStatus(
                name=agent.name,
                role=agent.role,
                runtime=agent.runtime,
                # Another machine's panes are not ours to look at: its store state stands.
                state=live_state(agent.state, pane, running) if local else agent.state,
                state_since=agent.state_since,
                pane=pane.pane_id if pane else agent.pane,
                pid=pane.pid if pane else None,
                task=agent.hook,
                restarts=agent.restarts,
                detail=agent.detail,
            )
        )
    rows.sort(key=lambda r: (rank.get(r.role, len(rank)), agent_sort_key(r.name)))
    return rows
