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
from typing import Literal

from swarm.refinery import BOUNCE_MARK
from swarm.store import Store
from swarm.store.models import MergeRequest

Destination = Literal["agent", "queue", "failed"]
GONE_STATES = ("dead", "stopped")


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
        return f"failed after {self.bounces} bounces"


def bounce_count(store: Store, task_id: str) -> int:
    """How many of the task's merge requests were bounced so far (kept in the store)."""
    return sum(1 for mr in store.list_merge_requests(["bounced"]) if mr.task_id == task_id)


def conflict_notes(
    mr: MergeRequest, target: str, tip: str, files: Sequence[str], bounce: int
) -> str:
    listed = "\n".join(f"  {name}" for name in files)
    return (
        f"{BOUNCE_MARK} (merge conflict, bounce {bounce}): {mr.branch} @ {mr.head_sha[:12]} "
        f"does not apply on {target} @ {tip[:12]}.\n"
        f"Conflicting files:\n{listed}\n"
        f"Start again from the current {target} (or rebase onto it), resolve, commit, "
        "then run `swarm done`."
    )


def gate_notes(mr: MergeRequest, target: str, tip: str, report: str, bounce: int) -> str:
    return (
        f"{BOUNCE_MARK} (gate failed, bounce {bounce}): {mr.branch} @ {mr.head_sha[:12]} "
        f"on top of {target} @ {tip[:12]}.\n{report}\n"
        "Fix it on your branch, run the gate's commands yourself, commit, then run `swarm done`."
    )


def send_back(store: Store, mr: MergeRequest, notes: str, max_bounces: int) -> SentBack:
    """Take the request out of the queue and hand its task back (or fail it)."""
    bounces = bounce_count(store, mr.task_id) + 1
    if bounces > max_bounces:
        store.fail_task(
            mr.task_id,
            f"{notes}\nrefinery: gave up after {bounces} bounces "
            f"(merge.max_bounces is {max_bounces}).",
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
