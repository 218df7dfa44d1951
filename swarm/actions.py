"""What a person can do to a running swarm; the CLI and the sidebar call these same functions.

Each action goes through the store (so it is recorded as an event and survives a crash)
and the tmux layer (so it happens on screen), and says in one line what it did.
"""

from __future__ import annotations

from swarm.delivery import Deliverer, DeliveryResult
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.runtimes.screens import answer_keys, pending_detector
from swarm.store import Store
from swarm.store.models import Agent
from swarm.tmux.client import PaneInfo, Tmux
from swarm.tmux.focus import focus_commands


def live_pane(instance: SwarmInstance, agent: str) -> PaneInfo | None:
    panes = Tmux(instance.socket).list_panes(instance.session)
    return next((p for p in panes if p.agent == agent), None)


def _require_pane(instance: SwarmInstance, record: Agent) -> PaneInfo:
    pane = live_pane(instance, record.name)
    if pane is None or pane.dead:
        raise SwarmError(f"{record.name} has no live pane (state {record.state}); try `swarm restart {record.name}`")
    return pane


def nudge(instance: SwarmInstance, store: Store, agent: str, text: str) -> DeliveryResult:
    """Type `text` into the agent's pane and submit it (verbatim, confirmed)."""
    record = store.get_agent(agent)
    pane = _require_pane(instance, record)
    result = Deliverer(Tmux(instance.socket), instance.state_dir / "locks").deliver(
        pane.pane_id, text, pending=pending_detector(record.runtime)
    )
    note = "" if result.confirmed else " (not confirmed)"
    store.add_event("agent.nudged", f"{len(text)} chars typed into {agent}{note}", agent=agent)
    return result


def answer_prompt(instance: SwarmInstance, store: Store, agent: str, approve: bool) -> str:
    """Approve or refuse the permission prompt an agent waits at."""
    record = store.get_agent(agent)
    if record.state != "waiting":
        raise SwarmError(f"{agent} is not waiting for an answer (state {record.state})")
    pane = _require_pane(instance, record)
    keys = answer_keys(record.runtime, approve)
    Tmux(instance.socket).run(("send-keys", "-t", pane.pane_id, *keys))
    verdict = "approved" if approve else "refused"
    store.set_agent_state(agent, "working", f"prompt {verdict} by a person")
    store.add_event(f"agent.{verdict}", f"{agent}: permission prompt {verdict}", agent=agent)
    return f"{agent}: prompt {verdict}"


def restart_agent(instance: SwarmInstance, store: Store, agent: str, reason: str) -> str:
    """Restart the agent's process in its pane: same command, worktree and hook.

    The hooked task is handed back once the new session reports in (SessionStart).
    """
    record = store.get_agent(agent)
    pane = live_pane(instance, agent)
    if pane is None:
        raise SwarmError(f"{agent} has no pane; run `swarm up` to re-create it")
    Tmux(instance.socket).run(("respawn-pane", "-k", "-t", pane.pane_id))
    store.record_restart(agent)
    store.set_agent_state(agent, "starting", f"restarted: {reason}")
    store.add_event("agent.restart", f"{agent} restarted: {reason}", agent=agent, task=record.hook)
    return f"{agent}: restarted" + (f" (holding {record.hook})" if record.hook else "")


def focus(instance: SwarmInstance, agent: str, zoom: bool = False) -> str:
    pane = live_pane(instance, agent)
    if pane is None:
        raise SwarmError(f"{agent} has no pane in swarm {instance.session}")
    Tmux(instance.socket).run(*focus_commands(pane.pane_id, zoom=zoom))
    return f"focus: {agent}"
