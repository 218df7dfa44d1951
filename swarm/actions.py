"""What a person can do to a running swarm; the CLI and the sidebar call these same functions.

Each action goes through the store (so it is recorded as an event and survives a crash)
and the tmux layer (so it happens on screen), and says in one line what it did.
"""

from __future__ import annotations

from swarm.delivery import Confirm, Deliverer, DeliveryResult
from swarm.errors import EXIT_FAILURE, EXIT_USAGE, SwarmError
from swarm.git.repo import git
from swarm.instance import SwarmInstance
from swarm.refinery.target import branch_tip
from swarm.reports import TURN_WAIT, is_turn_wait, prompt_digest
from swarm.runtimes.base import Runtime
from swarm.runtimes.registry import runtime_for
from swarm.store import Store
from swarm.store.models import LIVE_MERGE_STATUSES, Agent
from swarm.tmux.client import PaneInfo, Tmux
from swarm.tmux.focus import focus_commands


class NotDelivered(SwarmError):
    """Typed, but the agent never took it (or took it as something else)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_FAILURE)


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


def type_text(
    deliverer: Deliverer, pane_id: str, runtime: Runtime, text: str, acknowledged: Confirm
) -> DeliveryResult:
    """Type `text` into an agent's pane the way its runtime takes it as a message.

    A runtime that reports its prompts is confirmed only by that report (`acknowledged`);
    one that does not, by its input line emptying (when it can be read)."""
    return deliverer.deliver(
        pane_id,
        runtime.as_text(text),
        confirm=acknowledged if runtime.reports else None,
        pending=runtime.input_pending if runtime.reads_input_line else None,
        queued=runtime.queued,
    )


def prompt_seen(store: Store, agent: str, expected: str, after_id: int) -> Confirm:
    """True once a prompt report of `agent` with exactly `expected` arrived after `after_id`."""
    digest = prompt_digest(expected)

    def seen() -> bool:
        return any(
            e.kind == "agent.prompt" and e.data.get("digest") == digest
            for e in store.events(after_id=after_id, agent=agent)
        )

    return seen


def nudge(instance: SwarmInstance, store: Store, agent: str, text: str) -> DeliveryResult:
    """Type `text` into the agent's pane and submit it; raise NotDelivered if it was not
    taken as a message (a runtime's own command, a lost line continuation, a dead agent)."""
    if not text.strip():
        raise SwarmError(f"nothing to type into {agent}: the text is empty", EXIT_USAGE)
    record = store.get_agent(agent)
    pane = _require_pane(instance, record)
    runtime = runtime_for(record.runtime)
    expected = runtime.received(runtime.as_text(text))
    latest = store.latest_events(1)
    after = latest[-1].id if latest else 0
    deliverer = Deliverer(Tmux(instance.socket), instance.state_dir / "locks")
    result = type_text(
        deliverer, pane.pane_id, runtime, text, prompt_seen(store, agent, expected, after)
    )
    if not result.confirmed:
        message = f"{len(text)} chars typed into {agent} but not taken as a message"
        store.add_event("agent.nudge_failed", message, agent=agent)
        raise NotDelivered(f"{agent}: not delivered: {message} (see its pane)")
    store.add_event(
        "agent.nudged", f"{len(text)} chars typed into {agent} ({result.how})", agent=agent
    )
    return result


def answer_prompt(instance: SwarmInstance, store: Store, agent: str, approve: bool) -> str:
    """Approve or refuse the permission prompt an agent shows: whenever one is on its
    screen, whatever state the store had reached."""
    record = store.get_agent(agent)
    pane = _require_pane(instance, record)
    runtime = runtime_for(record.runtime)
    tmux = Tmux(instance.socket)
    if record.state != "waiting" or is_turn_wait(record.detail):
        screen = tmux.run(("capture-pane", "-p", "-J", "-t", pane.pane_id), check=False)
        if runtime.classify(screen).kind != "waiting":
            raise SwarmError(
                f"{agent} shows no prompt to answer (state {record.state}: {record.detail})"
            )
    keys = runtime.approve_keys if approve else runtime.refuse_keys
    tmux.run(("send-keys", "-t", pane.pane_id, *keys))
    verdict = "approved" if approve else "refused"
    if not approve and runtime.refusal_ends_turn and record.hook:
        # The runtime stops its turn and waits to be told what to do instead.
        why = "permission refused; tell it what to do instead (swarm nudge)"
        store.set_agent_state(agent, "waiting", f"{TURN_WAIT} {record.hook}: {why}")
    elif not approve and runtime.refusal_ends_turn:
        store.set_agent_state(agent, "idle", "permission refused")
    else:
        store.set_agent_state(agent, "working", f"prompt {verdict} by a person")
    store.add_event(f"agent.{verdict}", f"{agent}: permission prompt {verdict}", agent=agent)
    return f"{agent}: prompt {verdict}"


def launch_args(instance: SwarmInstance, name: str) -> list[str]:
    """How the plan `swarm up` built starts pane `name` (`-c DIR -e K=V … -- argv`).

    A respawn must say it again: without `-e`, tmux gives the new process the session's
    environment, which `new-session -e` filled with the first pane's (the mayor's) identity.
    It reads the plan file, never the layout, so a layout edited since `up` changes nothing;
    a plan it cannot read, or without this pane, is one line of error, never a bare respawn.
    """
    from swarm.planfile import read_plan
    from swarm.tmux.builder import pane_launch_args

    plan = read_plan(instance.state_dir)
    spec = next((p for p in plan.pane_specs() if p.name == name), None)
    if spec is None:
        raise SwarmError(f"{name}: not in the swarm's plan (run `swarm up` to add it)")
    return pane_launch_args(spec, plan)


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


def retry_merge(instance: SwarmInstance, store: Store, mr_id: int) -> str:
    """Queue a bounced or rejected request's branch again, as it is now (`swarm mq retry`).

    The branch's current head is queued as a new request (the old one stays in the history);
    the task is `done` again until it merges. A request still in the queue is left alone.
    """
    mr = store.get_merge_request(mr_id)
    if mr.status in LIVE_MERGE_STATUSES:
        position = store.queue_position(mr.id)
        return f"#{mr.id} ({mr.task_id}) is already in the queue, position {position}"
    if mr.status == "merged":
        raise SwarmError(f"#{mr.id} ({mr.task_id}) is merged already")
    head = branch_tip(instance.repo, mr.branch) or mr.head_sha
    base = git(instance.repo, "merge-base", head, instance.target_branch, check=False).strip()
    if not base:
        raise SwarmError(
            f"{mr.branch} @ {head[:12]} shares no history with {instance.target_branch}",
            EXIT_USAGE,
        )
    new = store.requeue_task(mr.task_id, head, base)
    position = store.queue_position(new.id)
    return (
        f"{new.task_id}: merge request #{new.id} queued ({new.branch} @ {head[:12]}), "
        f"position {position}"
    )


def reject_merge(store: Store, mr_id: int, reason: str = "") -> str:
    """Take a request out of the queue for good: request rejected, task failed
    (`swarm mq reject`). One transaction (`fail_task` rejects the task's live request), so
    the task is never left `done` with nothing to merge it; `swarm task retry` reopens it.
    """
    mr = store.get_merge_request(mr_id)
    if mr.status not in LIVE_MERGE_STATUSES:
        raise SwarmError(f"#{mr.id} ({mr.task_id}) is not in the queue (it is {mr.status})")
    why = "rejected from the merge queue by a person" + (f": {reason}" if reason else "")
    store.fail_task(mr.task_id, why)
    return f"#{mr.id} rejected; {mr.task_id} failed (`swarm task retry {mr.task_id}` reopens it)"
