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
        raise SwarmError(
            f"{record.name} has no live pane (state {record.state}); "
            f"try `swarm restart {record.name}`"
        )
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


def launch_args(instance: SwarmInstance, name: str) -> list[str]:
    """How the plan starts pane `name` (`-c DIR -e K=V … -- argv`).

    A respawn must say it again: without `-e`, tmux gives the new process the session's
    environment, which `new-session -e` filled with the first pane's (the mayor's) identity.
    """
    from swarm.config import load_plan
    from swarm.tmux.builder import pane_launch_args

    try:
        plan = load_plan(str(instance.layout_path), instance.repo)
    except SwarmError:
        return []
    spec = next((p for p in plan.pane_specs() if p.name == name), None)
    return pane_launch_args(spec, plan) if spec is not None else []


def restart_agent(instance: SwarmInstance, store: Store, agent: str, reason: str) -> str:
    """Restart the agent's process in its pane: same command, worktree and hook.

    The hooked task is handed back once the new session reports in (SessionStart).
    """
    record = store.get_agent(agent)
    pane = live_pane(instance, agent)
    if pane is None:
        raise SwarmError(f"{agent} has no pane; run `swarm up` to re-create it")
    launch = launch_args(instance, agent)
    Tmux(instance.socket).run(("respawn-pane", "-k", "-t", pane.pane_id, *launch))
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


def retry_merge(store: Store, mr_id: int) -> str:
    """Give a merge request another go, within the store's rules.

    A request still in the queue is put back to `queued` (one stuck in `testing` is tested
    again from scratch). A request that left the queue cannot come back, because its branch
    may be gone; if its task failed (it was rejected) the task is reopened instead, and a new
    request is queued when the work is done again.
    """
    mr = store.get_merge_request(mr_id)
    if mr.status == "queued":
        return f"merge request #{mr_id} is already queued (position {store.queue_position(mr_id)})"
    if mr.status == "testing":
        store.set_merge_status(mr_id, "queued", "retried by a person")
        return f"merge request #{mr_id} queued again ({mr.task_id})"
    task = store.get_task(mr.task_id)
    if task.status in ("failed", "cancelled"):
        store.retry_task(task.id)
        return f"merge request #{mr_id} was {mr.status}: {task.id} reopened for another attempt"
    raise SwarmError(
        f"merge request #{mr_id} is {mr.status} and its task {task.id} is {task.status}: "
        "nothing to retry (a bounced task is already back with an agent or in the queue)"
    )


def reject_merge(store: Store, mr_id: int, reason: str = "rejected by a person") -> str:
    """Take a request out of the refinery's queue for good: request rejected, task failed.

    Both change in one transaction (`fail_task` rejects the task's live request), so the
    task is never left `done` with no request to merge it; `swarm task retry` reopens it.
    """
    mr = store.get_merge_request(mr_id)
    if mr.status not in ("queued", "testing"):
        raise SwarmError(f"merge request #{mr_id} is already {mr.status}")
    store.fail_task(mr.task_id, f"merge request #{mr_id} rejected: {reason}")
    return f"merge request #{mr_id} rejected; {mr.task_id} failed (swarm task retry {mr.task_id})"
