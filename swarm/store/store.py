"""`Store`: the one door to `.swarm/swarm.db`.

Every method is either a plain read or exactly one short `BEGIN IMMEDIATE` transaction that
also appends its event, so the CLI, the controller, the hooks and the sidebar can all write
at once from their own processes. Open one `Store` per process (and use it from one thread):
a connection is cheap to keep and the schema is checked only when it is opened.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from swarm.store import agents, db, events, merges, requeue, tasks
from swarm.store.models import (
    DEFAULT_PRIORITY,
    Agent,
    Event,
    MergeRequest,
    Task,
    TaskStatus,
)

Clock = Callable[[], float]


class Store:
    """Tasks, agents, merge requests and events of one swarm."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock = time.time) -> None:
        """Wrap an already migrated connection; use `Store.open` instead."""
        self._conn = conn
        self.path = path
        self._clock = clock

    @classmethod
    def open(cls, path: Path, clock: Clock = time.time) -> Store:
        """Open the store at `path` (creating folder and file) and bring its schema up to date.

        `clock` is injectable so tests can control `state_since` and friends.
        """
        conn = db.connect(path)
        try:
            db.migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, clock)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return db.schema_version(self._conn)

    def data_version(self) -> int:
        """Changes whenever another connection commits: a free "anything new?" check."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several calls into one atomic transaction (e.g. adding a batch of tasks)."""
        with db.transaction(self._conn):
            yield

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        with db.transaction(self._conn) as conn:
            yield conn, self._clock()

    # -- tasks ------------------------------------------------------------------------------

    def add_task(self, title: str, body: str = "", priority: int = DEFAULT_PRIORITY) -> Task:
        with self._write() as (conn, now):
            return tasks.add(conn, now, title, body, priority)

    def get_task(self, task_id: str) -> Task:
        return tasks.get(self._conn, task_id)

    def list_tasks(self, statuses: Iterable[str] | None = None) -> list[Task]:
        return tasks.list_tasks(self._conn, statuses)

    def task_counts(self) -> dict[TaskStatus, int]:
        return tasks.counts(self._conn)

    def claim_next_task(self, agent: str) -> Task | None:
        with self._write() as (conn, now):
            return tasks.claim_next(conn, now, agent)

    def hook_task(self, task_id: str, agent: str) -> Task:
        with self._write() as (conn, now):
            return tasks.hook(conn, now, task_id, agent)

    def start_task(self, agent: str) -> Task:
        with self._write() as (conn, now):
            return tasks.start(conn, now, agent)

    def finish_task(self, agent: str, head_sha: str, base_sha: str) -> MergeRequest:
        with self._write() as (conn, now):
            return tasks.finish(conn, now, agent, head_sha, base_sha)

    def fail_task(self, task_id: str, reason: str = "") -> Task:
        with self._write() as (conn, now):
            return tasks.fail(conn, now, task_id, reason)

    def cancel_task(self, task_id: str) -> Task:
        with self._write() as (conn, now):
            return tasks.cancel(conn, now, task_id)

    def retry_task(self, task_id: str) -> Task:
        with self._write() as (conn, now):
            return tasks.retry(conn, now, task_id)

    def release_task(self, task_id: str, notes: str | None = None) -> Task:
        with self._write() as (conn, now):
            return tasks.release(conn, now, task_id, notes)

    def bounce_task_to(self, task_id: str, agent: str, notes: str = "") -> Task:
        with self._write() as (conn, now):
            return tasks.bounce_to(conn, now, task_id, agent, notes)

    def mark_merged(self, task_id: str, merge_sha: str) -> Task:
        with self._write() as (conn, now):
            return tasks.mark_merged(conn, now, task_id, merge_sha)

    # -- agents -----------------------------------------------------------------------------

    def upsert_agent(
        self, name: str, role: str, runtime: str, pane: str | None = None, pid: int | None = None
    ) -> Agent:
        with self._write() as (conn, now):
            return agents.upsert(conn, now, name, role, runtime, pane, pid)

    def remove_agent(self, name: str) -> None:
        with self._write() as (conn, now):
            agents.remove(conn, now, name)

    def get_agent(self, name: str) -> Agent:
        return agents.get(self._conn, name)

    def find_agent(self, name: str) -> Agent | None:
        return agents.find(self._conn, name)

    def list_agents(self, role: str | None = None) -> list[Agent]:
        return agents.list_agents(self._conn, role)

    def idle_agents(self, role: str | None = None) -> list[Agent]:
        return agents.idle(self._conn, role)

    def set_agent_state(self, name: str, state: str, detail: str = "") -> Agent:
        with self._write() as (conn, now):
            return agents.set_state(conn, now, name, state, detail)

    def touch_agent(self, name: str) -> None:
        with self._write() as (conn, now):
            agents.touch(conn, now, name)

    def set_agent_resources(
        self, name: str, cpu_percent: float | None, rss_bytes: int | None
    ) -> None:
        with self._write() as (conn, _now):
            agents.set_resources(conn, name, cpu_percent, rss_bytes)

    def record_restart(self, name: str) -> Agent:
        with self._write() as (conn, now):
            return agents.record_restart(conn, now, name)

    def set_worktree(self, name: str, path: Path | str | None) -> Agent:
        with self._write() as (conn, now):
            return agents.set_worktree(conn, now, name, path)

    def set_agent_session(self, name: str, session_id: str, transcript: str | None) -> Agent:
        with self._write() as (conn, now):
            return agents.set_session(conn, now, name, session_id, transcript)

    def set_handover(self, name: str, handover: str) -> Agent:
        with self._write() as (conn, now):
            return agents.set_handover(conn, now, name, handover)

    # -- merge requests ---------------------------------------------------------------------

    def get_merge_request(self, mr_id: int) -> MergeRequest:
        return merges.get(self._conn, mr_id)

    def list_merge_requests(self, statuses: Iterable[str] | None = None) -> list[MergeRequest]:
        return merges.list_requests(self._conn, statuses)

    def merge_request_for_task(self, task_id: str) -> MergeRequest | None:
        """The task's request still in the queue, if any."""
        return merges.live_for_task(self._conn, task_id)

    def queue_position(self, mr_id: int) -> int | None:
        return merges.queue_position(self._conn, mr_id)

    def set_merge_status(self, mr_id: int, status: str, result: str = "") -> MergeRequest:
        with self._write() as (conn, now):
            return merges.set_status(conn, now, mr_id, status, result)

    def update_merge_head(self, mr_id: int, head_sha: str) -> MergeRequest:
        with self._write() as (conn, now):
            return merges.update_head(conn, now, mr_id, head_sha)

    def mark_request_merged(self, mr_id: int, merge_sha: str) -> MergeRequest:
        """Merge request and task -> merged together, exactly once."""
        with self._write() as (conn, now):
            return tasks.mark_request_merged(conn, now, mr_id, merge_sha)

    def requeue_task(self, task_id: str, head_sha: str, base_sha: str) -> MergeRequest:
        """Queue an open or failed task's branch for merging again (`swarm mq retry`)."""
        with self._write() as (conn, now):
            return requeue.requeue(conn, now, task_id, head_sha, base_sha)

    # -- events -----------------------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        message: str,
        agent: str | None = None,
        task: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        with self._write() as (conn, now):
            return events.add(conn, now, kind, message, agent, task, data)

    def events(
        self,
        after_id: int = 0,
        agent: str | None = None,
        task: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        return events.list_events(self._conn, after_id, agent, task, limit)

    def latest_events(self, n: int = 50) -> list[Event]:
        return events.latest(self._conn, n)
