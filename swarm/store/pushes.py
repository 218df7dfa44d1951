"""A team polecat's task branch, waiting to be pushed by its machine's controller.

A confined polecat cannot push: git's push goes through the repository's `.git`, which the
sandbox keeps read-only. So `swarm done` in a team records the push as *wanted* (one row per
agent), and the controller on that machine, outside the sandbox, pushes the branch and then
finishes the task (`tasks.finish`: task done, merge request queued) in one transaction, which
also drops the row. Until then the agent keeps its hook: nothing reaches the merge queue that
the remote does not have, and a machine lost in between gives the task back like any other.

A failed push stays wanted and is tried again; it is one `task.push_failed` event per new
reason, not one per try.
"""

from __future__ import annotations

from swarm.store import agents, events, tasks
from swarm.store.backend import Connection
from swarm.store.ids import branch_for
from swarm.store.models import MergeRequest, PushRequest


def want(conn: Connection, now: float, agent: str, head_sha: str, base_sha: str) -> PushRequest:
    """Record the push of the task `agent` holds (a second `swarm done` replaces the first)."""
    head_sha, base_sha = head_sha.strip(), base_sha.strip()
    task = tasks.held_task(conn, agent)
    branch = task.branch or branch_for(task.id)
    conn.execute("DELETE FROM pushes WHERE agent = ?", (agent,))
    conn.execute(
        "INSERT INTO pushes (agent, task_id, branch, head_sha, base_sha, requested_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (agent, task.id, branch, head_sha, base_sha, now),
    )
    events.note(
        conn,
        now,
        "task.push_wanted",
        f"{agent} finished {task.id} at {head_sha[:12]}; its machine pushes {branch}",
        agent=agent,
        task=task.id,
        data={"head_sha": head_sha, "base_sha": base_sha},
    )
    return PushRequest(agent, task.id, branch, head_sha, base_sha, 0, "", now, None)


def pending(conn: Connection) -> list[PushRequest]:
    rows = conn.execute("SELECT * FROM pushes ORDER BY requested_at, agent").fetchall()
    return [PushRequest.from_row(row) for row in rows]


def pushed(conn: Connection, now: float, agent: str, head_sha: str) -> MergeRequest | None:
    """The branch is on the remote at `head_sha`: finish the task, queue it, drop the row.

    None (and the row dropped, said in an event) when the agent no longer holds that task
    (cancelled, given back after its machine was lost) or a newer `swarm done` moved it on.
    """
    request = _find(conn, agent)
    if request is None or request.head_sha != head_sha:
        return None
    conn.execute("DELETE FROM pushes WHERE agent = ?", (agent,))
    holder = agents.find(conn, agent)
    if holder is None or holder.hook != request.task_id:
        events.note(
            conn,
            now,
            "task.push_dropped",
            f"{request.branch} pushed, but {agent} no longer holds {request.task_id}: not queued",
            agent=agent,
            task=request.task_id,
        )
        return None
    return tasks.finish(conn, now, agent, request.head_sha, request.base_sha)


def failed(conn: Connection, now: float, agent: str, head_sha: str, error: str) -> bool:
    """Count a failed try; True when it is a new reason (and so an event was written)."""
    request = _find(conn, agent)
    if request is None or request.head_sha != head_sha:
        return False
    conn.execute(
        "UPDATE pushes SET attempts = attempts + 1, error = ?, tried_at = ? WHERE agent = ?",
        (error, now, agent),
    )
    if error == request.error:
        return False
    events.note(
        conn,
        now,
        "task.push_failed",
        f"could not push {request.branch} for {request.task_id}: {error}; trying again",
        agent=agent,
        task=request.task_id,
        data={"error": error},
    )
    return True


def _find(conn: Connection, agent: str) -> PushRequest | None:
    row = conn.execute("SELECT * FROM pushes WHERE agent = ?", (agent,)).fetchone()
    return None if row is None else PushRequest.from_row(row)
