"""Who runs where: the store's view of each agent, confirmed by one look at tmux.

`swarm status` is what a person runs while a hundred agents keep two cores busy, where
every process it starts waits its turn: it starts one (the tmux question). Finding the
repository reads files (`git.repo.find_repo`), and whether agents can be confined is
probed once per boot, not per call (`confinement`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from swarm import sandbox
from swarm.atomic import write_atomic
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.models import Agent
from swarm.tmux.client import PaneInfo, Tmux
from swarm.tmux.focus import agent_sort_key
from swarm.usage.report import agent_usage
from swarm.usage.tokens import Usage


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
    usage: Usage | None = None  # None: its runtime reports no usage ("unknown")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["usage"] = self.usage.to_json() if self.usage is not None else None
        data["cost_usd"] = round(self.usage.cost_usd, 6) if self.usage is not None else None
        return data


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
    spent = agent_usage(store, agents)
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
                usage=spent.get(agent.name),
            )
        )
    rows.sort(key=lambda r: (rank.get(r.role, len(rank)), agent_sort_key(r.name)))
    return rows


PROBE_FILE = "sandbox-probe.json"
# What bwrap's answer depends on: the boot, the user-namespace switches, the binary.
_PROBE_INPUTS = (
    "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/unprivileged_userns_clone",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
)


def probe_key() -> str:
    """Everything `sandbox.available()`'s answer depends on, read from files."""
    parts = [os.environ.get("SWARM_SANDBOX", "")]
    for name in _PROBE_INPUTS:
        try:
            parts.append(Path(name).read_text().strip())
        except OSError:
            parts.append("-")
    binary = shutil.which(sandbox.BWRAP)
    try:
        parts.append(f"{binary}:{os.stat(binary).st_mtime_ns}" if binary else "-")
    except OSError:
        parts.append("-")
    return "|".join(parts)


def confinement(state_dir: Path) -> str | None:
    """Why agents cannot be confined here (None: they can): `sandbox.available()`, whose
    probe starts bwrap, asked again only when something it depends on changed."""
    path = state_dir / PROBE_FILE
    key = probe_key()
    try:
        saved = json.loads(path.read_text())
        if isinstance(saved, dict) and saved.get("key") == key:
            why = saved.get("why")
            return why if isinstance(why, str) else None
    except (OSError, ValueError):
        pass
    why = sandbox.available()
    with contextlib.suppress(OSError):  # a read-only state folder: probed next time again
        write_atomic(path, json.dumps({"key": key, "why": why}), mode=0o600)
    return why
