"""Merge requests: finished branches in the refinery's queue, first in, first out.

Row-level operations only; the ones that must move a task at the same time (queueing on
finish, merging, bouncing) are driven from `swarm.store.tasks` inside one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarm.errors import EXIT_USAGE, NotFoundError, SwarmError
from swarm.refinery import merge_reason
from swarm.store import events
from swarm.store.backend import Connection
from swarm.store.models import LIVE_MERGE_STATUSES, MERGE_STATUSES, MergeRequest
from swarm.text import shorten

_LIVE_SQL = "(" + ", ".join(f"'{status}'" for status in LIVE_MERGE_STATUSES) + ")"


def find(conn: Connection, mr_id: int) -> MergeRequest | None:
    row = conn.execute("SELECT * FROM merge_requests WHERE id = ?", (mr_id,)).fetchone()
    return None if row is None else MergeRequest.from_row(row)


def get(conn: Connection, mr_id: int) -> MergeRequest:
    mr = find(conn, mr_id)
    if mr is None:
        raise NotFoundError(f"unknown merge request #{mr_id}")
    return mr


def live_for_task(conn: Connection, task_id: str) -> MergeRequest | None:
    """The task's request still in the queue, if any (at most one, by a unique index)."""
    row = conn.execute(
        f"SELECT * FROM merge_requests WHERE task_id = ? AND status IN {_LIVE_SQL}", (task_id,)
    ).fetchone()
    return None if row is None else MergeRequest.from_row(row)


def list_requests(conn: Connection, statuses: Iterable[str] | None = None) -> list[MergeRequest]:
    """Requests in queue order (oldest first)."""
    if statuses is None:
        rows = conn.execute("SELECT * FROM merge_requests ORDER BY id").fetchall()
    else:
        wanted = _check_statuses(statuses)
        marks = ", ".join("?" for _ in wanted)
        rows = conn.execute(
            f"SELECT * FROM merge_requests WHERE status IN ({marks}) ORDER BY id", wanted
        ).fetchall()
    return [MergeRequest.from_row(row) for row in rows]


def queue_position(conn: Connection, mr_id: int) -> int | None:
    """1 for the request the refinery takes next; None once it left the queue."""
    mr = get(conn, mr_id)
    if mr.status not in LIVE_MERGE_STATUSES:
        return None
    row = conn.execute(
        f"SELECT count(*) FROM merge_requests WHERE status IN {_LIVE_SQL} AND id <= ?", (mr_id,)
    ).fetchone()
    return int(row[0])


def create(
    conn: Connection,
    now: float,
    task_id: str,
    agent: str,
    branch: str,
    head_sha: str,
    base_sha: str,
) -> MergeRequest:
    mr_id = conn.insert(
        "INSERT INTO merge_requests (task_id, agent, branch, head_sha, base_sha, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
        (task_id, agent, branch, head_sha, base_sha, now, now),
    )
    events.note(
        conn,
        now,
        "merge.queued",
        f"merge request #{mr_id} queued: {branch} @ {head_sha[:12]}",
        agent=agent,
        task=task_id,
        data={"mr": mr_id, "head_sha": head_sha, "base_sha": base_sha},
    )
    # The row just inserted, with the schema's defaults: no second read.
    return MergeRequest(
        id=mr_id,
        task_id=task_id,
        agent=agent,
        branch=branch,
        head_sha=head_sha,
        base_sha=base_sha,
        status="queued",
        attempts=0,
        result="",
        merge_sha=None,
        created_at=now,
        updated_at=now,
    )


def set_status(conn: Connection, now: float, mr_id: int, status: str, result: str) -> MergeRequest:
    """Move a live request to testing, back to queued, or out as bounced / rejected.

    `merged` is refused here: merging must also mark the task merged in the same
    transaction, which `Store.mark_merged` does.
    """
    if status not in MERGE_STATUSES:
        raise SwarmError(
            f"unknown merge status '{status}' (one of: {', '.join(MERGE_STATUSES)})",
            exit_code=EXIT_USAGE,
        )
    if status == "merged":
        raise SwarmError(
            f"merge request #{mr_id}: use mark_merged to merge (it also marks the task merged)"
        )
    mr = get(conn, mr_id)
    if mr.status not in LIVE_MERGE_STATUSES:
        raise SwarmError(f"merge request #{mr_id} is already {mr.status}")
    if mr.status == status and mr.result == result:
        return mr
    bump = 1 if status == "testing" and mr.status != "testing" else 0
    conn.execute(
        "UPDATE merge_requests SET status = ?, result = ?, attempts = attempts + ?,"
        " updated_at = ? WHERE id = ?",
        (status, result, bump, now, mr_id),
    )
    _status_event(conn, now, mr, status, result)
    return get(conn, mr_id)


def close_live(
    conn: Connection, now: float, task_id: str, status: str, result: str
) -> MergeRequest | None:
    """Take the task's live request (if any) out of the queue as bounced or rejected."""
    mr = live_for_task(conn, task_id)
    if mr is None:
        return None
    return set_status(conn, now, mr.id, status, result)


def set_merged(conn: Connection, now: float, mr: MergeRequest, merge_sha: str) -> None:
    conn.execute(
        "UPDATE merge_requests SET status = 'merged', merge_sha = ?, updated_at = ? WHERE id = ?",
        (merge_sha, now, mr.id),
    )
    events.add(
        conn,
        now,
        "merge.merged",
        f"merge request #{mr.id} merged as {merge_sha[:12]}",
        agent=mr.agent,
        task=mr.task_id,
        data={"mr": mr.id, "merge_sha": merge_sha},
    )


def update_head(conn: Connection, now: float, mr_id: int, head_sha: str) -> MergeRequest:
    """The branch moved (rebased, or the agent fixed a conflict): test the new head."""
    mr = get(conn, mr_id)
    if mr.status not in LIVE_MERGE_STATUSES:
        raise SwarmError(f"merge request #{mr_id} is already {mr.status}")
    if mr.head_sha == head_sha:
        return mr
    conn.execute(
        "UPDATE merge_requests SET head_sha = ?, updated_at = ? WHERE id = ?",
        (head_sha, now, mr_id),
    )
    events.add(
        conn,
        now,
        "merge.head",
        f"merge request #{mr_id} head {mr.head_sha[:12]} -> {head_sha[:12]}",
        agent=mr.agent,
        task=mr.task_id,
        data={"mr": mr_id, "from": mr.head_sha, "to": head_sha},
    )
    return get(conn, mr_id)


def _status_event(conn: Connection, now: float, mr: MergeRequest, status: str, result: str) -> None:
    change = f"still {status}" if mr.status == status else f"{mr.status} -> {status}"
    message = f"merge request #{mr.id}: {change}"
    reason = merge_reason(status, result)  # a bounce's why, not the instruction after it
    if reason:
        message += f" ({shorten(reason, 120)})"
    data: dict[str, Any] = {"mr": mr.id, "from": mr.status, "to": status, "result": result}
    events.add(conn, now, "merge.status", message, agent=mr.agent, task=mr.task_id, data=data)


def _check_statuses(statuses: Iterable[str]) -> list[str]:
    wanted = list(statuses)
    for status in wanted:
        if status not in MERGE_STATUSES:
            raise SwarmError(
                f"unknown merge status '{status}' (one of: {', '.join(MERGE_STATUSES)})",
                exit_code=EXIT_USAGE,
            )
    return wanted
