"""The swarm's one source of truth: `.swarm/swarm.db` (SQLite, WAL).

Tasks, agents (and the task each holds: its hook), merge requests and the append-only event
history. Every change is one short transaction, so any process can be killed at any moment
and the next one carries on from what is stored.
"""

from __future__ import annotations

from swarm.store.db import SCHEMA_VERSION
from swarm.store.ids import branch_for, is_task_id, new_task_id
from swarm.store.models import (
    AGENT_STATES,
    MERGE_STATUSES,
    TASK_STATUSES,
    Agent,
    AgentState,
    Event,
    MergeRequest,
    MergeStatus,
    Task,
    TaskStatus,
)
from swarm.store.store import Store

__all__ = [
    "AGENT_STATES",
    "MERGE_STATUSES",
    "SCHEMA_VERSION",
    "TASK_STATUSES",
    "Agent",
    "AgentState",
    "Event",
    "MergeRequest",
    "MergeStatus",
    "Store",
    "Task",
    "TaskStatus",
    "branch_for",
    "is_task_id",
    "new_task_id",
]
