"""Sending work back: to the polecat that did it, to the queue, or out as failed.

The polecat that wrote a change knows it best, so a bounced task goes back to it when it is
free (no hook) and alive; otherwise any polecat may take it from the queue. Either way the
notes say what went wrong (conflict files, the gate's output tail). A task that keeps coming
back is not retried forever: past the layout's `max_bounces` it fails, and the caller
escalates it to the mayor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from swarm.refinery import BOUNCE_MARK
from swarm.refinery.candidate import Conflict
from swarm.refinery.gate import GateResult
from swarm.store import Store
from swarm.store.models import MergeRequest

Destination = Literal["agent", "queue", "failed"]
GONE_STATES = ("dead", "stopped", "done")  # no live process to send work back to


@dataclass(frozen=True)
class SentBack:
    destination: Destination
    agent: str | None  # the polecat it went back to, for "agent"
    bounces: int  # how many times the task has now been bounced

    def describe(self) -> str:
        if self.destination == "agent":
            return f"back to {self.agent}"
        if self.destination == "queue":
            return "back to the queue"
        return f"failed, sent back {self.bounces - 1} times already (the limit)"


def bounce_count(store: Store, task_id: str) -> int:
    """How many of the task's merge requests were bounced so far (kept in the store)."""
    return sum(1 for mr in store.list_merge_requests(["bounced"]) if mr.task_id == task_id)


def conflict_notes(
    mr: MergeRequest, target: str, tip: str, files: Sequence[str], bounce: int
) -> str:
    """What a polecat reads when its branch does not apply: the first line says it all."""
    return (
        f"{BOUNCE_MARK}: merge conflict in {', '.join(files)} (bounce {bounce})\n"
        f"{mr.branch} @ {mr.head_sha[:12]} does not apply on {target} @ {tip[:12]}.\n"
        f"Rebase your branch onto the current {target} (`git rebase {target}`), resolve the "
        "conflicts keeping both sides' intent, commit, then run `swarm done`."
    )


def gate_notes(
    mr: MergeRequest, target: str, tip: str, reason: str, summary: str, tail: str, bounce: int
) -> str:
    """What a polecat reads when its change breaks the gate: why (the first line, also what
    the sidebar and `swarm mq` show), which command, and its output."""
    output = f"--- output (tail) ---\n{tail.rstrip()}\n" if tail.strip() else ""
    return (
        f"{BOUNCE_MARK}: {reason} (bounce {bounce})\n"
        f"{summary}: {mr.branch} @ {mr.head_sha[:12]} on top of {target} @ {tip[:12]}.\n"
        f"{output}"
        "Fix it on your branch, run the gate's commands yourself, commit, then run `swarm done`."
    )


def send_back(store: Store, mr: MergeRequest, notes: str, max_bounces: int) -> SentBack:
    """Take the request out of the queue and hand its task back (or fail it)."""
    bounces = bounce_count(store, mr.task_id) + 1
    if bounces > max_bounces:
        store.fail_task(
            mr.task_id,
            f"{notes}\nrefinery: gave up: it failed to merge again after {max_bounces} "
            f"bounces (merge.max_bounces is {max_bounces}).",
        )
        return SentBack("failed", None, bounces)
    agent = store.find_agent(mr.agent)
    if agent is not None and agent.hook is None and agent.state not in GONE_STATES:
        task = store.bounce_task_to(mr.task_id, agent.name, notes)
        if task.status == "hooked" and task.assignee == agent.name:
            return SentBack("agent", agent.name, bounces)
        return SentBack("queue", None, bounces)  # it took other work meanwhile
    store.release_task(mr.task_id, notes)
    return SentBack("queue", None, bounces)


@dataclass(frozen=True)
class Bounced:
    sent: SentBack
    message: str  # one line for the pane: who, why, where to
    escalation: str | None  # for a task that failed: what to tell the mayor


def bounce(
    store: Store,
    mr: MergeRequest,
    *,
    target: str,
    tip: str,
    max_bounces: int,
    cause: Conflict | GateResult,
) -> Bounced:
    """Send `mr`'s task back for `cause`, and record it (`merge.bounced`, `escalation`)."""
    number = bounce_count(store, mr.task_id) + 1
    data: dict[str, Any] = {"mr": mr.id, "head_sha": mr.head_sha, "tip": tip}
    if isinstance(cause, Conflict):
        notes = conflict_notes(mr, target, tip, cause.files, number)
        short = f"conflict in {', '.join(cause.files)}"
        data.update(why="conflict", files=list(cause.files))
    else:
        short = f"gate failed: {cause.reason()}"
        notes = gate_notes(mr, target, tip, short, cause.summary(), cause.tail, number)
        data.update(why="gate", command=cause.command, tail=cause.tail)
    sent = send_back(store, mr, notes, max_bounces)
    data.update(to=sent.destination, agent=sent.agent, bounces=sent.bounces)
    message = f"{mr.task_id} (#{mr.id}) bounced, {short}: {sent.describe()}"
    store.add_event("merge.bounced", message, agent=mr.agent, task=mr.task_id, data=data)
    escalation = None
    if sent.destination == "failed":
        escalation = (
            f"refinery: task {mr.task_id} failed to merge after {sent.bounces - 1} bounces "
            f"(last: {short}). "
            f"See `swarm task show {mr.task_id}`; decide whether to split it, fix it yourself, "
            f"or retry it with `swarm task retry {mr.task_id}`."
        )
        store.add_event(
            "escalation", escalation, task=mr.task_id, data={"mr": mr.id, "bounces": sent.bounces}
        )
    return Bounced(sent, message, escalation)
