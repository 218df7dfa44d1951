"""The task lifecycle: open -> hooked -> working -> done -> merged | failed | cancelled.

Each function is one state change that may touch a task, the agent holding it and its merge
request together; the `Store` runs it inside one `BEGIN IMMEDIATE` transaction, so a crash
or a concurrent caller can never see half of it (a task hooked but no agent holding it, a
task done twice, two merge requests for one piece of work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from swarm.errors import EXIT_USAGE, NotFoundError, SwarmError
from swarm.store import agents, events, merges
from swarm.store.backend import Connection
from swarm.store.ids import branch_for, new_task_id
from swarm.store.models import (
    HELD_TASK_STATUSES,
    LIVE_MERGE_STATUSES,
    PRIORITY_MAX,
    PRIORITY_MIN,
    TASK_STATUSES,
    Agent,
    MergeRequest,
    Task,
    TaskStatus,
)
from swarm.text import shorten

_ID_ATTEMPTS = 50  # 36**5 ids: a collision is rare, fifty in a row is impossible in practice


def find(conn: Connection, task_id: str) -> Task | None:
    row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return None if row is None else Task.from_row(row)


def get(conn: Connection, task_id: str) -> Task:
    task = find(conn, task_id)
    if task is None:
        raise NotFoundError(f"unknown task '{task_id}'")
    return task


def list_tasks(conn: Connection, statuses: Iterable[str] | None = None) -> list[Task]:
    """Tasks in the order work is taken: best priority first, then oldest."""
    if statuses is None:
        rows = conn.execute("SELECT * FROM tasks ORDER BY priority, seq").fetchall()
    else:
        wanted = check_statuses(statuses)
        marks = ", ".join("?" for _ in wanted)
        rows = conn.execute(
            f"SELECT * FROM tasks WHERE status IN ({marks}) ORDER BY priority, seq", wanted
        ).fetchall()
    return [Task.from_row(row) for row in rows]


def counts(conn: Connection) -> dict[TaskStatus, int]:
    """How many tasks are in each status (every status present, zeros included)."""
    result: dict[TaskStatus, int] = dict.fromkeys(TASK_STATUSES, 0)
    for row in conn.execute("SELECT status, count(*) FROM tasks GROUP BY status"):
        result[row[0]] = int(row[1])
    return result


def check_statuses(statuses: Iterable[str]) -> list[str]:
    wanted = list(statuses)
    for status in wanted:
        if status not in TASK_STATUSES:
            raise SwarmError(
                f"unknown task status '{status}' (one of: {', '.join(TASK_STATUSES)})",
                exit_code=EXIT_USAGE,
            )
    return wanted


def add(conn: Connection, now: float, title: str, body: str, priority: int) -> Task:
    title = title.strip()
    if not title:
        raise SwarmError("a task needs a title", exit_code=EXIT_USAGE)
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not PRIORITY_MIN <= priority <= PRIORITY_MAX
    ):
        raise SwarmError(
            f"priority must be {PRIORITY_MIN}..{PRIORITY_MAX} ({PRIORITY_MIN} is highest), "
            f"got {priority!r}",
            exit_code=EXIT_USAGE,
        )
    for _ in range(_ID_ATTEMPTS):
        task_id = new_task_id()
        if find(conn, task_id) is None:
            break
    else:  # pragma: no cover - needs ~60 million tasks
        raise SwarmError("could not find a free task id; the task store is full")
    conn.execute(
        "INSERT INTO tasks (id, title, body, priority, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 'open', ?, ?)",
        (task_id, title, body, priority, now, now),
    )
    events.add(
        conn,
        now,
        "task.added",
        f"{task_id} added (p{priority}): {title}",
        task=task_id,
        data={"priority": priority, "title": title},
    )
    return get(conn, task_id)


def claim_next(conn: Connection, now: float, agent: str) -> Task | None:
    """Hook the best open task (lowest priority number, then oldest) to a free agent."""
    # Both questions are asked before either answer is read: on PostgreSQL (pipelined) they
    # travel in one round trip. A busy agent's claim then rolls back the row it locked.
    asked = conn.execute("SELECT * FROM agents WHERE name = ?", (agent,))
    best = conn.execute(
        "SELECT * FROM tasks WHERE status = 'open' ORDER BY priority, seq LIMIT 1"
        + conn.skip_locked
    )
    found = asked.fetchone()
    if found is None:
        raise NotFoundError(f"unknown agent '{agent}'")
    holder = _free(Agent.from_row(found))
    row = best.fetchone()
    if row is None:
        return None
    return _hook(conn, now, Task.from_row(row), holder, "task.hooked")


def hook(conn: Connection, now: float, task_id: str, agent: str) -> Task:
    """Sling one specific open task to one specific agent."""
    task = get(conn, task_id)
    if task.status != "open":
        raise SwarmError(f"cannot hook {task_id} to {agent}: {task_id} is {_describe(task)}")
    holder = _free_agent(conn, agent, task_id)
    return _hook(conn, now, task, holder, "task.hooked")


def start(conn: Connection, now: float, agent: str) -> Task:
    """The agent began work on its hook; calling it again changes nothing."""
    task = held_task(conn, agent)
    if task.status == "working":
        return task
    _set(conn, now, task.id, status="working")
    events.add(conn, now, "task.started", f"{agent} started {task.id}", agent=agent, task=task.id)
    return get(conn, task.id)


def finish(conn: Connection, now: float, agent: str, head_sha: str, base_sha: str) -> MergeRequest:
    """Hand the agent's work to the refinery: task done, request queued, hook cleared.

    Exactly once: the hook is cleared in the same transaction, so a second call finds the
    agent holding nothing and raises instead of queueing the work twice.
    """
    head_sha, base_sha = head_sha.strip(), base_sha.strip()
    if not head_sha or not base_sha:
        raise SwarmError(
            f"{agent} cannot finish without a head and a base commit", exit_code=EXIT_USAGE
        )
    task = held_task(conn, agent)
    _set(conn, now, task.id, status="done")
    agents.set_hook(conn, now, agent, None)
    events.note(
        conn,
        now,
        "task.done",
        f"{agent} finished {task.id} at {head_sha[:12]}",
        agent=agent,
        task=task.id,
        data={"head_sha": head_sha, "base_sha": base_sha},
    )
    branch = task.branch or branch_for(task.id)
    return merges.create(conn, now, task.id, agent, branch, head_sha, base_sha)


def fail(conn: Connection, now: float, task_id: str, reason: str) -> Task:
    """Give up on a task (any status before merged): its holder is freed, its queued merge
    request rejected, and the reason kept in its notes for whoever retries it."""
    task = get(conn, task_id)
    if task.status in ("merged", "failed", "cancelled"):
        raise SwarmError(f"cannot fail {task_id}: it is already {task.status}")
    holder = _unhook(conn, now, task_id)
    merges.close_live(conn, now, task_id, "rejected", reason)
    _set(conn, now, task_id, status="failed", notes=_append(task.notes, reason))
    events.add(
        conn,
        now,
        "task.failed",
        f"{task_id} failed" + (f": {_first_line(reason)}" if reason else ""),
        agent=holder.name if holder else task.assignee,
        task=task_id,
        data={"reason": reason},
    )
    return get(conn, task_id)


def cancel(conn: Connection, now: float, task_id: str) -> Task:
    task = get(conn, task_id)
    if task.status not in ("open", "hooked", "working"):
        raise SwarmError(
            f"cannot cancel {task_id}: it is {task.status} (only open, hooked or working "
            f"tasks can be cancelled)"
        )
    holder = _unhook(conn, now, task_id)
    _set(conn, now, task_id, status="cancelled")
    events.add(
        conn,
        now,
        "task.cancelled",
        f"{task_id} cancelled" + (f" (was held by {holder.name})" if holder else ""),
        agent=holder.name if holder else None,
        task=task_id,
    )
    return get(conn, task_id)


def retry(conn: Connection, now: float, task_id: str) -> Task:
    task = get(conn, task_id)
    if task.status not in ("failed", "cancelled"):
        raise SwarmError(
            f"cannot retry {task_id}: it is {task.status} (only failed or cancelled tasks "
            f"can be retried)"
        )
    _set(conn, now, task_id, status="open", assignee=None)
    events.add(
        conn,
        now,
        "task.retried",
        f"{task_id} reopened ({task.status} before)",
        task=task_id,
        data={"from": task.status},
    )
    return get(conn, task_id)


def release(conn: Connection, now: float, task_id: str, notes: str | None) -> Task:
    """Put held or finished work back in the queue for anyone (a bounce with no agent to
    return to, or an agent that died for good); the notes tell the next agent why."""
    task = _releasable(conn, task_id, "release")
    holder = _unhook(conn, now, task_id)
    merges.close_live(conn, now, task_id, "bounced", notes or "released")
    _set(conn, now, task_id, status="open", assignee=None, notes=_append(task.notes, notes))
    who = holder.name if holder else task.assignee
    events.add(
        conn,
        now,
        "task.released",
        f"{task_id} back in the queue ({task.status} by {who})"
        + (f": {_first_line(notes)}" if notes else ""),
        agent=who,
        task=task_id,
        data={"from": task.status, "notes": notes or ""},
    )
    return get(conn, task_id)


def bounce_to(conn: Connection, now: float, task_id: str, agent: str, notes: str) -> Task:
    """Send work back to the agent that did it (it knows the code best) if that agent is
    free; otherwise back to the queue. Notes (conflict files, gate output) are kept."""
    task = _releasable(conn, task_id, "bounce")
    _unhook(conn, now, task_id)
    merges.close_live(conn, now, task_id, "bounced", notes or "bounced")
    merged_notes = _append(task.notes, notes)
    target = agents.find(conn, agent)
    if target is None or target.hook is not None:
        _set(conn, now, task_id, status="open", assignee=None, notes=merged_notes)
        why = "unknown" if target is None else f"busy with {target.hook}"
        events.add(
            conn,
            now,
            "task.released",
            f"{task_id} back in the queue ({agent} is {why})"
            + (f": {_first_line(notes)}" if notes else ""),
            agent=agent,
            task=task_id,
            data={"from": task.status, "notes": notes},
        )
        return get(conn, task_id)
    _set(conn, now, task_id, status="open", notes=merged_notes)
    return _hook(
        conn,
        now,
        get(conn, task_id),
        target,
        "task.bounced",
        extra=f": {_first_line(notes)}" if notes else "",
    )


def mark_merged(conn: Connection, now: float, task_id: str, merge_sha: str) -> Task:
    """done -> merged, with its queued merge request, exactly once."""
    merge_sha = merge_sha.strip()
    if not merge_sha:
        raise SwarmError(
            f"cannot mark {task_id} merged without a merge commit", exit_code=EXIT_USAGE
        )
    task = get(conn, task_id)
    if task.status == "merged":
        raise SwarmError(f"{task_id} is already merged (as {(task.merge_sha or '?')[:12]})")
    if task.status != "done":
        raise SwarmError(f"cannot mark {task_id} merged: it is {task.status}, not done")
    mr = merges.live_for_task(conn, task_id)
    if mr is not None:
        merges.set_merged(conn, now, mr, merge_sha)
    _set(conn, now, task_id, status="merged", merge_sha=merge_sha)
    events.add(
        conn,
        now,
        "task.merged",
        f"{task_id} merged as {merge_sha[:12]}",
        agent=task.assignee,
        task=task_id,
        data={"merge_sha": merge_sha, "mr": mr.id if mr else None},
    )
    return get(conn, task_id)


def mark_request_merged(conn: Connection, now: float, mr_id: int, merge_sha: str) -> MergeRequest:
    """The refinery's way to merge: the request and its task, together, exactly once."""
    mr = merges.get(conn, mr_id)
    if mr.status == "merged":
        raise SwarmError(
            f"merge request #{mr_id} is already merged (as {(mr.merge_sha or '?')[:12]})"
        )
    if mr.status not in LIVE_MERGE_STATUSES:
        raise SwarmError(f"cannot merge merge request #{mr_id}: it is {mr.status}")
    mark_merged(conn, now, mr.task_id, merge_sha)
    return merges.get(conn, mr_id)


# -- helpers -------------------------------------------------------------------------------


def _free_agent(conn: Connection, agent: str, task_id: str | None = None) -> Agent:
    return _free(agents.get(conn, agent), task_id)


def _free(holder: Agent, task_id: str | None = None) -> Agent:
    if holder.hook is not None:
        what = f"cannot hook {task_id} to {holder.name}: " if task_id else ""
        raise SwarmError(
            f"{what}{holder.name} already holds {holder.hook}; finish or release it first"
        )
    return holder


def _hook(
    conn: Connection, now: float, task: Task, agent: Agent, kind: str, extra: str = ""
) -> Task:
    branch = task.branch or branch_for(task.id)
    conn.execute(
        "UPDATE tasks SET status = 'hooked', assignee = ?, attempts = attempts + 1,"
        " branch = ?, updated_at = ? WHERE id = ?",
        (agent.name, branch, now, task.id),
    )
    agents.set_hook(conn, now, agent.name, task.id)
    verb = "bounced back to" if kind == "task.bounced" else "hooked to"
    events.note(
        conn,
        now,
        kind,
        f"{task.id} {verb} {agent.name} (attempt {task.attempts + 1}){extra}",
        agent=agent.name,
        task=task.id,
        data={"attempt": task.attempts + 1},
    )
    # The row as the UPDATE left it (task was read in this transaction, under the write
    # lock): no second read.
    return replace(
        task,
        status="hooked",
        assignee=agent.name,
        attempts=task.attempts + 1,
        branch=branch,
        updated_at=now,
    )


def held_task(conn: Connection, agent: str) -> Task:
    # The agent and its task in one read (one round trip, not two).
    row = conn.execute(
        "SELECT agents.hook AS held, tasks.* FROM agents"
        " LEFT JOIN tasks ON tasks.id = agents.hook WHERE agents.name = ?",
        (agent,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"unknown agent '{agent}'")
    if row["held"] is None:
        raise SwarmError(f"{agent} holds no task")
    if row["id"] is None:  # pragma: no cover - agents.hook references tasks
        raise NotFoundError(f"unknown task '{row['held']}'")
    task = Task.from_row(row)
    if task.status not in HELD_TASK_STATUSES:  # pragma: no cover - guarded by every writer
        raise SwarmError(f"{agent} holds {task.id}, which is {task.status}")
    return task


def _releasable(conn: Connection, task_id: str, verb: str) -> Task:
    task = get(conn, task_id)
    if task.status not in ("hooked", "working", "done"):
        raise SwarmError(
            f"cannot {verb} {task_id}: it is {task.status} (only hooked, working or done "
            f"tasks go back)"
        )
    return task


def _unhook(conn: Connection, now: float, task_id: str) -> Agent | None:
    holder = agents.holder_of(conn, task_id)
    if holder is not None:
        agents.set_hook(conn, now, holder.name, None)
    return holder


_UNSET: Any = object()


def _set(
    conn: Connection,
    now: float,
    task_id: str,
    *,
    status: TaskStatus,
    assignee: str | None = _UNSET,
    notes: str = _UNSET,
    merge_sha: str = _UNSET,
) -> None:
    columns = ["status = ?", "updated_at = ?"]
    params: list[Any] = [status, now]
    for name, value in (("assignee", assignee), ("notes", notes), ("merge_sha", merge_sha)):
        if value is not _UNSET:
            columns.append(f"{name} = ?")
            params.append(value)
    params.append(task_id)
    conn.execute(f"UPDATE tasks SET {', '.join(columns)} WHERE id = ?", params)


def _append(notes: str, more: str | None) -> str:
    if not more or not more.strip():
        return notes
    return f"{notes}\n\n{more.strip()}" if notes else more.strip()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return shorten(lines[0], 120) if lines else ""


def _describe(task: Task) -> str:
    return f"{task.status} ({task.assignee})" if task.assignee else task.status
