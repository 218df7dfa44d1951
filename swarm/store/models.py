"""What the store holds, as frozen dataclasses: a read is a snapshot, never a live object.

Callers get values they can pass between threads, print and compare; to change anything they
call the store again, so every change goes through one short transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from swarm.store.backend import Row

TaskStatus = Literal["open", "hooked", "working", "done", "merged", "failed", "cancelled"]
AgentState = Literal[
    "starting", "idle", "working", "waiting", "stalled", "limited", "dead", "done", "stopped"
]
# How far the hand-over of an agent's held task got (swarm.handover is the state machine).
Handover = Literal["none", "pending", "typing", "sent", "acked"]
MergeStatus = Literal["queued", "testing", "merged", "bounced", "rejected"]

TASK_STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
AGENT_STATES: tuple[AgentState, ...] = get_args(AgentState)
HANDOVER_STATES: tuple[Handover, ...] = get_args(Handover)
MERGE_STATUSES: tuple[MergeStatus, ...] = get_args(MergeStatus)

# A task an agent holds (its hook points at it).
HELD_TASK_STATUSES: tuple[TaskStatus, ...] = ("hooked", "working")
# A merge request still waiting for the refinery.
LIVE_MERGE_STATUSES: tuple[MergeStatus, ...] = ("queued", "testing")

PRIORITY_MIN = 0  # highest
PRIORITY_MAX = 4
DEFAULT_PRIORITY = 2


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work in the queue."""

    id: str
    seq: int
    title: str
    body: str
    priority: int
    status: TaskStatus
    assignee: str | None
    attempts: int
    branch: str | None
    notes: str
    merge_sha: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> Task:
        return cls(
            id=row["id"],
            seq=row["seq"],
            title=row["title"],
            body=row["body"],
            priority=row["priority"],
            status=cast(TaskStatus, row["status"]),
            assignee=row["assignee"],
            attempts=row["attempts"],
            branch=row["branch"],
            notes=row["notes"],
            merge_sha=row["merge_sha"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Agent:
    """One running instance of a role in one pane, and the task it holds (its hook)."""

    name: str
    role: str
    runtime: str
    pane: str | None
    pid: int | None
    state: AgentState
    state_since: float
    hook: str | None
    last_activity: float | None
    restarts: int
    worktree: str | None
    detail: str
    created_at: float
    updated_at: float
    cpu_percent: float | None = None  # of the pane's whole process tree, measured by the witness
    rss_bytes: int | None = None
    session_id: str | None = None  # the runtime's own conversation (Claude Code's session_id)
    transcript_path: str | None = None  # where the runtime writes that conversation
    handover: Handover = "none"
    handover_at: float | None = None

    @classmethod
    def from_row(cls, row: Row) -> Agent:
        return cls(
            name=row["name"],
            role=row["role"],
            runtime=row["runtime"],
            pane=row["pane"],
            pid=row["pid"],
            state=cast(AgentState, row["state"]),
            state_since=row["state_since"],
            hook=row["hook"],
            last_activity=row["last_activity"],
            restarts=row["restarts"],
            worktree=row["worktree"],
            detail=row["detail"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            cpu_percent=row["cpu_percent"],
            rss_bytes=row["rss_bytes"],
            session_id=row["session_id"],
            transcript_path=row["transcript_path"],
            handover=cast(Handover, row["handover"]),
            handover_at=row["handover_at"],
        )


@dataclass(frozen=True, slots=True)
class MergeRequest:
    """A finished task's branch waiting in (or gone through) the refinery's queue."""

    id: int
    task_id: str
    agent: str
    branch: str
    head_sha: str
    base_sha: str
    status: MergeStatus
    attempts: int
    result: str
    merge_sha: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> MergeRequest:
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            agent=row["agent"],
            branch=row["branch"],
            head_sha=row["head_sha"],
            base_sha=row["base_sha"],
            status=cast(MergeStatus, row["status"]),
            attempts=row["attempts"],
            result=row["result"],
            merge_sha=row["merge_sha"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only history: who did what, when."""

    id: int
    ts: float
    kind: str
    message: str
    agent: str | None = None
    task: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row) -> Event:
        raw = row["data"]
        data: Any = json.loads(raw) if raw else {}
        return cls(
            id=row["id"],
            ts=row["ts"],
            kind=row["kind"],
            message=row["message"],
            agent=row["agent"],
            task=row["task"],
            data=data if isinstance(data, dict) else {"value": data},
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """A name (the team's refinery, a machine) held by one holder until `expires`."""

    name: str
    holder: str
    expires: float
    acquired_at: float
    renewed_at: float

    @classmethod
    def from_row(cls, row: Row) -> Lease:
        return cls(
            name=row["name"],
            holder=row["holder"],
            expires=row["expires"],
            acquired_at=row["acquired_at"],
            renewed_at=row["renewed_at"],
        )


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A team polecat's finished task branch, for its machine's controller to push
    (`swarm.store.pushes`): `attempts` failed tries so far, the last one's `error`."""

    agent: str
    task_id: str
    branch: str
    head_sha: str
    base_sha: str
    attempts: int
    error: str
    requested_at: float
    tried_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> PushRequest:
        return cls(
            agent=row["agent"],
            task_id=row["task_id"],
            branch=row["branch"],
            head_sha=row["head_sha"],
            base_sha=row["base_sha"],
            attempts=row["attempts"],
            error=row["error"],
            requested_at=row["requested_at"],
            tried_at=row["tried_at"],
        )
