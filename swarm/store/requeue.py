"""Putting finished work back in the merge queue without redoing it (`swarm mq retry`).

A task whose request was bounced or rejected keeps its branch. When nobody holds it (it
failed, or waits open in the queue), a person may say "merge that branch again": the task
becomes `done` once more and a new merge request for the branch's current head is queued,
all in the caller's one transaction.
"""

from __future__ import annotations

from swarm.errors import SwarmError
from swarm.store import agents, events, merges, tasks
from swarm.store.backend import Connection
from swarm.store.ids import branch_for
from swarm.store.models import MergeRequest

REQUEUEABLE = ("open", "failed")


def requeue(
    conn: Connection, now: float, task_id: str, head_sha: str, base_sha: str
) -> MergeRequest:
    """Queue the task's branch again at `head_sha`; the task is `done` until it merges."""
    task = tasks.get(conn, task_id)
    if merges.live_for_task(conn, task_id) is not None:
        raise SwarmError(f"{task_id} is already in the merge queue")
    if task.status not in REQUEUEABLE:
        holder = f" by {task.assignee}" if task.assignee else ""
        raise SwarmError(
            f"cannot queue {task_id} again: it is {task.status}{holder} "
            f"(only open or failed tasks nobody holds)"
        )
    holder_agent = agents.holder_of(conn, task_id)
    if holder_agent is not None:  # pragma: no cover - open and failed tasks have no holder
        raise SwarmError(f"cannot queue {task_id} again: {holder_agent.name} holds it")
    head_sha, base_sha = head_sha.strip(), base_sha.strip()
    if not head_sha or not base_sha:
        raise SwarmError(f"cannot queue {task_id} again without a head and a base commit")
    row = conn.execute(
        "SELECT agent, branch FROM merge_requests WHERE task_id = ? ORDER BY id DESC LIMIT 1",
        (task_id,),
    ).fetchone()
    if row is None:
        raise SwarmError(f"{task_id} never reached the merge queue: nothing to retry")
    agent, branch = str(row["agent"]), str(row["branch"] or task.branch or branch_for(task_id))
    conn.execute(
        "UPDATE tasks SET status = 'done', assignee = ?, updated_at = ? WHERE id = ?",
        (agent, now, task_id),
    )
    events.add(
        conn,
        now,
        "task.requeued",
        f"{task_id} ({task.status}) queued again for merging at {head_sha[:12]}",
        agent=agent,
        task=task_id,
        data={"from": task.status, "head_sha": head_sha},
    )
    return merges.create(conn, now, task_id, agent, branch, head_sha, base_sha)
